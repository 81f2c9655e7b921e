"""The Provider on Azure Resource Manager: one runner = one resource group holding everything it needs, so
terminate() is one group delete and an interrupted launch leaves at most one group, which list_ours() reports
(docs/providers.md, "Azure")."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.core.polling import LROPoller
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as cm
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as nm
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources import models as rm

from pipe.providers.azure import images, request
from pipe.providers.azure.errors import explain, image_disk_gb_from
from pipe.providers.azure.instances import CLOUD, instance_from
from pipe.providers.azure.polling import finish as _finish
from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    Instance,
    InstanceSpec,
    MachineImage,
    ProviderError,
)
from pipe.providers.quota import QuotaNeed

log = logging.getLogger("pipe.providers.azure")

T = TypeVar("T")


class AzureProvider:
    """The Provider protocol on Azure Resource Manager."""

    cloud = CLOUD

    def __init__(
        self,
        region: str,
        *,
        subscription_id: str,
        credential: TokenCredential,
        base_url: str | None = None,
        connection_verify: str | None = None,
        resource_group_prefix: str = "cml-",
        public_ip: bool = True,
        **client_kwargs: Any,
    ) -> None:
        """client_kwargs go to every management client (azure-core options such as
        polling_interval or retry_total); tests use polling_interval=0."""
        self.region = region
        self.subscription_id = subscription_id
        self.resource_group_prefix = resource_group_prefix
        self.public_ip = public_ip
        self._credential = credential
        self._client_kwargs: dict[str, Any] = dict(client_kwargs)
        if base_url:
            self._client_kwargs["base_url"] = base_url.rstrip("/")
        if connection_verify:
            self._client_kwargs["connection_verify"] = connection_verify

    # Clients are built on first use: the network client alone takes ~0.6 s.
    @functools.cached_property
    def _resources(self) -> ResourceManagementClient:
        return ResourceManagementClient(self._credential, self.subscription_id, **self._client_kwargs)

    @functools.cached_property
    def _network(self) -> NetworkManagementClient:
        return NetworkManagementClient(self._credential, self.subscription_id, **self._client_kwargs)

    @functools.cached_property
    def _compute(self) -> ComputeManagementClient:
        return ComputeManagementClient(self._credential, self.subscription_id, **self._client_kwargs)

    def quota_needs(
        self, instance_type: str, accelerator: str, accelerator_count: int, *, spot: bool
    ) -> list[QuotaNeed]:
        """The family, regional and Spot vCPU quotas one VM counts against (providers/quota.py; azure/quota.py)."""
        from pipe.providers.azure import quota

        return quota.quota_needs(self._compute, self.region, instance_type, spot=spot)

    # -- Provider ---------------------------------------------------------------------------------

    def zones(self, instance_type: str) -> list[str]:
        """[""]: a regional VM, Azure picks a zone with capacity (docs/providers.md, "Azure")."""
        return [""]

    def resolve_image(self, requested: str, gpu: bool) -> str:
        if requested:
            request.parse_image(requested)
            return requested
        return request.DEFAULT_GPU_IMAGE if gpu else request.DEFAULT_IMAGE

    def image_disk_gb(self, image: str) -> int | None:
        """None: Azure's marketplace image API does not publish the OS disk size (its osDiskImage holds only
        operatingSystem, learn.microsoft.com/rest/api/compute/virtual-machine-images/get). launch() learns it
        from Azure's refusal instead (_grown_to_image)."""
        return None

    def group_name(self, name: str) -> str:
        """The resource group holding everything of the runner called name."""
        return name if name.startswith(self.resource_group_prefix) else f"{self.resource_group_prefix}{name}"

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        checked = request.Checked.of(spec)  # everything that can be checked locally, before creating anything
        group = self.group_name(spec.name)
        tags = dict(spec.tags)
        where = f"{self.region} zone {zone}" if zone else self.region
        log.info("Creating resource group %s in %s", group, self.region)
        self._call(
            f"create resource group {group}",
            lambda: self._resources.resource_groups.create_or_update(
                group, rm.ResourceGroup(location=self.region, tags=tags)
            ),
        )
        try:
            vm = self._create_vm(spec, checked, group, tags, zone, spot)
        except BaseException as exc:
            log.info("Launch in %s failed; deleting resource group %s", where, group)
            try:
                self._delete_group(group)
            except ProviderError as cleanup:
                log.warning("Could not delete resource group %s: %s", group, cleanup)
            if isinstance(exc, HttpResponseError | ServiceRequestError):
                raise self._error(exc, f"create VM {spec.name} ({spec.instance_type}) in {where}", spot) from exc
            raise
        return instance_from(group, tags, vm, self.region)

    def list_ours(self, repository_tag: str | None = None, *, with_state: bool = True) -> list[Instance]:
        """Our resource groups (one call per page), then each group's VMs for their state.

        with_state=False skips the per-group VM listing: the group's tags are the instance's tags, and
        the state is "unknown". The launch-time sweep reads this way, in calls that do not grow with
        the number of instances."""
        flt = f"tagName eq '{TAG_MANAGED_BY}' and tagValue eq '{TAG_MANAGED_BY_VALUE}'"
        groups = self._call("list resource groups", lambda: list(self._resources.resource_groups.list(filter=flt)))
        found: list[Instance] = []
        for group in groups:
            tags = dict(group.tags or {})
            if tags.get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE or not group.name or images.is_image_group(tags):
                continue  # not ours, or a baked image's group: no VM in it, the image sweep (bake/stale.py) owns it
            if repository_tag is not None and tags.get(TAG_REPOSITORY) != repository_tag:
                continue
            if group.properties and (group.properties.provisioning_state or "").lower() == "deleting":
                continue  # already going away
            location = group.location or self.region
            if with_state:
                found.extend(self._instances_in(group.name, location, tags))
            else:
                found.append(Instance(CLOUD, group.name, group.name, location, "", "", False, "unknown", tags))
        return found

    def terminate(self, instance: Instance) -> None:
        self.terminate_many([instance])

    def terminate_many(self, instances: Sequence[Instance], *, wait: bool = True) -> None:
        """Every group's delete is started first, then the long-running operations are waited on together
        (wait=False: not at all)."""
        pollers = []
        for instance in instances:
            poller = self._start_group_delete(instance, wait)
            if poller is not None:
                pollers.append((instance.id, poller))
        if not wait:
            return
        for group, poller in pollers:
            try:
                _finish(poller, f"Azure to delete resource group {group}")
            except ResourceNotFoundError:
                continue
            except (HttpResponseError, ServiceRequestError) as exc:
                raise self._error(exc, f"delete resource group {group}") from exc

    def _start_group_delete(self, instance: Instance, wait: bool = True) -> LROPoller[None] | None:
        """Checks the group is ours and starts its deletion; None if already gone. Without ``wait`` the
        SDK is told not to poll (polling=False): no background thread keeps asking how it goes."""
        group = instance.id
        try:
            existing = self._resources.resource_groups.get(group)
        except ResourceNotFoundError:
            return None
        except (HttpResponseError, ServiceRequestError) as exc:
            raise self._error(exc, f"read resource group {group}") from exc
        if (existing.tags or {}).get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE:
            raise ProviderError(
                f"Resource group {group} lacks the tag {TAG_MANAGED_BY}={TAG_MANAGED_BY_VALUE}; not deleting it"
            )
        log.info("Deleting resource group %s (VM %s and everything with it)", group, instance.name)
        try:
            return self._resources.resource_groups.begin_delete(
                group, force_deletion_types="Microsoft.Compute/virtualMachines", polling=wait
            )
        except ResourceNotFoundError:
            return None
        except (HttpResponseError, ServiceRequestError) as exc:
            raise self._error(exc, f"delete resource group {group}") from exc

    # -- MakesImages (COMMAND: bake; pipe/providers/azure/images.py) ----------------------------------

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> MachineImage:
        return images.capture(
            self._compute, self._resources, region=self.region, subscription_id=self.subscription_id,
            instance=instance, name=self.group_name(name), tags=tags, fail=self._error,
        )  # fmt: skip

    def image(self, image_id: str) -> MachineImage | None:
        return images.read(self._compute, image_id, self._error)

    def images_ours(self, repository_tag: str) -> list[MachineImage]:
        return images.ours(self._compute, self._resources, self.subscription_id, repository_tag, self._error)

    def delete_image(self, image: MachineImage) -> None:
        images.delete(self._resources, image, image.tags.get(TAG_REPOSITORY, ""), self._error)

    def console_output(self, instance: Instance) -> str:
        return images.serial_console(
            self._compute, instance, self._client_kwargs.get("connection_verify", True), self._error
        )

    def delete_bake_leftovers(self, repository_tag: str, bake_id: str) -> None:
        images.delete_of_bake(self._resources, repository_tag, bake_id, self._error)

    # -- launch steps -----------------------------------------------------------------------------

    def _create_vm(
        self, spec: InstanceSpec, checked: request.Checked, group: str, tags: dict[str, str], zone: str, spot: bool
    ) -> cm.VirtualMachine:
        """Everything inside the group; HttpResponseError propagates to launch() for translation."""
        name = spec.name
        zones = [zone] if zone else None
        network = self._network
        nsg = network.network_security_groups.begin_create_or_update(
            group, f"{name}-nsg", request.nsg(self.region, tags)
        ).result()
        vnet = network.virtual_networks.begin_create_or_update(
            group, f"{name}-vnet", request.vnet(self.region, tags, nsg.id, self.public_ip)
        ).result()
        subnet_id = (vnet.properties.subnets or [nm.Subnet()])[0].id if vnet.properties else None
        public_ip = None
        if self.public_ip:
            public_ip = network.public_ip_addresses.begin_create_or_update(
                group, f"{name}-ip", request.public_ip_address(self.region, tags, zones)
            ).result()
        nic = network.network_interfaces.begin_create_or_update(
            group, f"{name}-nic", request.nic(self.region, tags, nsg.id, subnet_id, public_ip.id if public_ip else None)
        ).result()
        vm = request.virtual_machine(spec, checked, self.region, tags, zones, nic.id, spot)
        log.info("Creating VM %s (%s, %s)", name, spec.instance_type, "spot" if spot else "on-demand")
        try:
            return _finish(
                self._compute.virtual_machines.begin_create_or_update(group, name, vm), f"Azure to create VM {name}"
            )
        except HttpResponseError as exc:
            image_gb = image_disk_gb_from(exc)
            if spec.disk_explicit or image_gb is None or image_gb <= spec.disk_gb:
                raise
        # The default size was smaller than the image: Azure said how big the image is; ask for that.
        log.info("The image's OS disk is %d GB; creating VM %s with a %d GB disk", image_gb, name, image_gb)
        vm.properties.storage_profile.os_disk.disk_size_gb = image_gb  # type: ignore[union-attr]
        return _finish(
            self._compute.virtual_machines.begin_create_or_update(group, name, vm), f"Azure to create VM {name}"
        )

    def _delete_group(self, group: str) -> None:
        try:
            _finish(
                self._resources.resource_groups.begin_delete(
                    group, force_deletion_types="Microsoft.Compute/virtualMachines"
                ),
                f"Azure to delete resource group {group}",
            )
        except ResourceNotFoundError:
            return
        except (HttpResponseError, ServiceRequestError) as exc:
            raise self._error(exc, f"delete resource group {group}") from exc

    # -- reading back -----------------------------------------------------------------------------

    def _instances_in(self, group: str, location: str, tags: dict[str, str]) -> Iterator[Instance]:
        try:
            vms = list(self._compute.virtual_machines.list(group, expand="instanceView"))
        except ResourceNotFoundError:
            return  # deleted since it was listed
        except (HttpResponseError, ServiceRequestError) as exc:
            raise self._error(exc, f"list VMs in resource group {group}") from exc
        if not vms:
            # A group without a VM (an interrupted launch) still holds billed resources:
            # 'stopped' makes the sweep terminate it, which deletes the group.
            yield Instance(CLOUD, group, group, location, "", "", False, "stopped", tags)
            return
        for vm in vms:
            yield instance_from(group, tags, vm, location)

    # -- errors ---------------------------------------------------------------------------------------

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (HttpResponseError, ServiceRequestError) as exc:
            raise self._error(exc, action) from exc

    def _error(self, exc: Exception, action: str, spot: bool = False) -> ProviderError:
        return explain(exc, action, region=self.region, subscription_id=self.subscription_id, spot=spot)

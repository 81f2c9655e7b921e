"""Azure adapter: one runner = one resource group holding everything it needs.

Imported only by the provider factory when CLOUD=azure, so the Azure SDK costs
nothing on other clouds.

Layout of one runner (all in resource group `<name>`, or `cml-<name>` when the
name lacks the prefix, every resource tagged with spec.tags):
  <name>-nsg     network security group with no rules of ours: Azure's defaults
                 deny all inbound traffic from the internet
  <name>-vnet    a private VNet 10.0.0.0/24 with one subnet
  <name>-ip      Standard static public IP, the VM's way out to Bitbucket and
                 the container registry (see "Egress" below); AZURE_PUBLIC_IP=false
                 skips it
  <name>-nic     the NIC, with the NSG attached
  <name>         the VM: OS disk and NIC deleted with it, Spot with eviction
                 policy Delete when asked, custom data = the startup script
Deleting the group deletes all of it, so terminate() is one call and an
interrupted launch leaves at most one group, which list_ours() reports.

Egress: a runner needs outbound HTTPS only. Azure retires "default outbound
access" for new VNets (subnets become private by default), so a fresh VNet
without a public IP or NAT gateway would have no way out. A Standard public IP
is the cheapest explicit way out (about $0.005/h, less than a NAT gateway); it
accepts no inbound connection unless an NSG rule allows one, and ours has none.
With AZURE_PUBLIC_IP=false the subnet asks for default outbound access instead,
which works only where Azure still offers it.

Zones: zones() returns [""] (a regional VM): Azure then places the VM in any
zone with capacity, which is a wider pool than trying zones 1, 2, 3 one by one
(each failed attempt costs a group create and delete), and needs no resource-SKU
listing (several MB per region). launch() still accepts a zone.

Images: CLOUD_IMAGE is publisher:offer:sku:version. Default Ubuntu 24.04 LTS;
with a GPU, Microsoft's Ubuntu HPC image, which ships NVIDIA drivers, CUDA and
the NVIDIA container toolkit and needs no marketplace plan (Gen2 sizes only:
NCasT4_v3, NC_A100_v4, NCads_H100_v5 and friends).

Login: the admin user has only an ephemeral SSH public key whose private key is
never kept, and password login is disabled: nobody can log in.
"""

from __future__ import annotations

import base64
import enum
import functools
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.polling import LROPoller
from azure.identity import ClientAssertionCredential, ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as cm
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as nm
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources import models as rm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pipe.progress import PROGRESS_EVERY_S, Progress
from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    CapacityError,
    Instance,
    InstanceSpec,
    ProviderError,
)
from pipe.providers.catalog import DEFAULT_IMAGES

log = logging.getLogger(__name__)

CLOUD = "azure"
DEFAULT_IMAGE, DEFAULT_GPU_IMAGE = DEFAULT_IMAGES["azure"]
ADMIN_USER = "cml"
ADDRESS_SPACE = "10.0.0.0/24"
CUSTOM_DATA_MAX_BYTES = 65535  # Azure's limit on the decoded custom data

# Error codes that mean "no capacity for this size here right now": try the next zone/market.
CAPACITY_CODES = frozenset(
    {
        "SkuNotAvailable",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
    }
)
QUOTA_CODES = frozenset({"QuotaExceeded", "OperationNotAllowed"})  # OperationNotAllowed: only with "quota" in it

# Where an invalid parameter comes from, by the error's target or code.
_VARIABLE_BY_TARGET = (
    ("vmsize", "CLOUD_TYPE"),
    ("imagereference", "CLOUD_IMAGE"),
    ("maxprice", "CLOUD_SPOT_PRICE"),
    ("billingprofile", "CLOUD_SPOT_PRICE"),
    ("disksizegb", "CLOUD_HDD_SIZE"),
    ("identity", "CLOUD_PERMISSION_SET"),
    ("userassignedidentities", "CLOUD_PERMISSION_SET"),
    ("location", "CLOUD_REGION"),
    ("tags", "CLOUD_METADATA"),
    ("customdata", "the startup script"),
)
_VARIABLE_BY_CODE = {
    "ImageNotFound": "CLOUD_IMAGE",
    "PlatformImageNotFound": "CLOUD_IMAGE",
    "InvalidTemplateDeployment": "CLOUD_IMAGE",
    "MarketplacePurchaseEligibilityFailed": "CLOUD_IMAGE",
    "ResourcePurchaseValidationFailed": "CLOUD_IMAGE",
    "VMMarketplaceInvalidInput": "CLOUD_IMAGE",
    "SubscriptionNotFound": "AZURE_SUBSCRIPTION_ID",
    "InvalidSubscriptionId": "AZURE_SUBSCRIPTION_ID",
    "LocationNotAvailableForResourceType": "CLOUD_REGION",
    "LocationNotAvailableForResourceGroup": "CLOUD_REGION",
    "NoRegisteredProviderFound": "CLOUD_REGION",
    "InvalidResourceLocation": "CLOUD_REGION",
    "InvalidTag": "CLOUD_METADATA",
    "InvalidTagNameCharacters": "CLOUD_METADATA",
    "FailedIdentityOperation": "CLOUD_PERMISSION_SET",
    "LinkedInvalidPropertyId": "CLOUD_PERMISSION_SET",
}

_IDENTITY_ID = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.managedidentity/userassignedidentities/[^/]+$",
    re.IGNORECASE,
)

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

    # -- Provider ---------------------------------------------------------------------------------

    def zones(self, instance_type: str) -> list[str]:
        """[""]: a regional VM, Azure picks a zone with capacity (see module docstring)."""
        return [""]

    def resolve_image(self, requested: str, gpu: bool) -> str:
        if requested:
            _parse_image(requested)
            return requested
        return DEFAULT_GPU_IMAGE if gpu else DEFAULT_IMAGE

    def image_disk_gb(self, image: str) -> int | None:
        """None: Azure's marketplace image API does not publish the OS disk size (its osDiskImage holds only
        operatingSystem, learn.microsoft.com/rest/api/compute/virtual-machine-images/get). launch() learns it
        from Azure's refusal instead (_grown_to_image)."""
        return None

    def group_name(self, name: str) -> str:
        """The resource group holding everything of the runner called name."""
        return name if name.startswith(self.resource_group_prefix) else f"{self.resource_group_prefix}{name}"

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        # Validate everything that can be checked locally before creating anything.
        image = _parse_image(spec.image)
        identity = _identity(spec.permission_set)
        custom_data = _custom_data(spec.user_data)
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
            vm = self._create_vm(spec, group, tags, zone, spot, image, identity, custom_data)
        except BaseException as exc:
            log.info("Launch in %s failed; deleting resource group %s", where, group)
            try:
                self._delete_group(group)
            except ProviderError as cleanup:
                log.warning("Could not delete resource group %s: %s", group, cleanup)
            if isinstance(exc, HttpResponseError | ServiceRequestError):
                raise self._error(exc, f"create VM {spec.name} ({spec.instance_type}) in {where}", spot) from exc
            raise
        return self._instance(group, tags, vm)

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
            if tags.get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE or not group.name:
                continue
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

    # -- launch steps -----------------------------------------------------------------------------

    def _create_vm(
        self,
        spec: InstanceSpec,
        group: str,
        tags: dict[str, str],
        zone: str,
        spot: bool,
        image: cm.ImageReference,
        identity: cm.VirtualMachineIdentity | None,
        custom_data: str,
    ) -> cm.VirtualMachine:
        """Everything inside the group; HttpResponseError propagates to launch() for translation."""
        name = spec.name
        zones = [zone] if zone else None
        network = self._network
        nsg = network.network_security_groups.begin_create_or_update(
            group,
            f"{name}-nsg",
            nm.NetworkSecurityGroup(
                location=self.region, tags=tags, properties=nm.NetworkSecurityGroupPropertiesFormat(security_rules=[])
            ),
        ).result()
        subnet = nm.Subnet(
            name="default",
            properties=nm.SubnetPropertiesFormat(
                address_prefix=ADDRESS_SPACE,
                network_security_group=nm.NetworkSecurityGroup(id=nsg.id),
                default_outbound_access=not self.public_ip,
            ),
        )
        vnet = network.virtual_networks.begin_create_or_update(
            group,
            f"{name}-vnet",
            nm.VirtualNetwork(
                location=self.region,
                tags=tags,
                properties=nm.VirtualNetworkPropertiesFormat(
                    address_space=nm.AddressSpace(address_prefixes=[ADDRESS_SPACE]), subnets=[subnet]
                ),
            ),
        ).result()
        subnet_id = (vnet.properties.subnets or [nm.Subnet()])[0].id if vnet.properties else None
        public_ip = None
        if self.public_ip:
            public_ip = network.public_ip_addresses.begin_create_or_update(
                group,
                f"{name}-ip",
                nm.PublicIPAddress(
                    location=self.region,
                    tags=tags,
                    zones=zones,
                    sku=nm.PublicIPAddressSku(name="Standard"),
                    properties=nm.PublicIPAddressPropertiesFormat(public_ip_allocation_method="Static"),
                ),
            ).result()
        ip_configuration = nm.NetworkInterfaceIPConfiguration(
            name="ipconfig1",
            properties=nm.NetworkInterfaceIPConfigurationPropertiesFormat(
                subnet=nm.Subnet(id=subnet_id),
                private_ip_allocation_method="Dynamic",
                public_ip_address=nm.PublicIPAddress(id=public_ip.id) if public_ip else None,
            ),
        )
        nic = network.network_interfaces.begin_create_or_update(
            group,
            f"{name}-nic",
            nm.NetworkInterface(
                location=self.region,
                tags=tags,
                properties=nm.NetworkInterfacePropertiesFormat(
                    network_security_group=nm.NetworkSecurityGroup(id=nsg.id), ip_configurations=[ip_configuration]
                ),
            ),
        ).result()
        ssh_key = cm.SshPublicKey(path=f"/home/{ADMIN_USER}/.ssh/authorized_keys", key_data=_throwaway_ssh_key())
        properties = cm.VirtualMachineProperties(
            hardware_profile=cm.HardwareProfile(vm_size=spec.instance_type),
            storage_profile=cm.StorageProfile(
                image_reference=image,
                os_disk=cm.OSDisk(
                    name=f"{name}-osdisk",
                    create_option="FromImage",
                    disk_size_gb=spec.disk_gb,
                    delete_option="Delete",
                    managed_disk=cm.ManagedDiskParameters(storage_account_type="StandardSSD_LRS"),
                ),
            ),
            os_profile=cm.OSProfile(
                computer_name=name,
                admin_username=ADMIN_USER,
                custom_data=custom_data,
                linux_configuration=cm.LinuxConfiguration(
                    disable_password_authentication=True,
                    ssh=cm.SshConfiguration(public_keys=[ssh_key]),
                ),
            ),
            network_profile=cm.NetworkProfile(
                network_interfaces=[
                    cm.NetworkInterfaceReference(
                        id=nic.id,
                        properties=cm.NetworkInterfaceReferenceProperties(primary=True, delete_option="Delete"),
                    )
                ]
            ),
            priority="Spot" if spot else "Regular",
            eviction_policy="Delete" if spot else None,
            billing_profile=cm.BillingProfile(max_price=_max_price(spec.spot_price)) if spot else None,
        )
        vm = cm.VirtualMachine(location=self.region, tags=tags, zones=zones, identity=identity, properties=properties)
        log.info("Creating VM %s (%s, %s)", name, spec.instance_type, "spot" if spot else "on-demand")
        try:
            return _finish(
                self._compute.virtual_machines.begin_create_or_update(group, name, vm), f"Azure to create VM {name}"
            )
        except HttpResponseError as exc:
            image_gb = _image_disk_gb_from(exc)
            if spec.disk_explicit or image_gb is None or image_gb <= spec.disk_gb:
                raise
        # The default size was smaller than the image: Azure said how big the image is; ask for that.
        log.info("The image's OS disk is %d GB; creating VM %s with a %d GB disk", image_gb, name, image_gb)
        properties.storage_profile.os_disk.disk_size_gb = image_gb  # type: ignore[union-attr]
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
            yield self._instance(group, tags, vm, location)

    def _instance(
        self, group: str, group_tags: dict[str, str], vm: cm.VirtualMachine, location: str | None = None
    ) -> Instance:
        return Instance(
            cloud=CLOUD,
            id=group,
            name=vm.name or group,
            region=vm.location or location or self.region,
            zone=(vm.zones or [""])[0],
            instance_type=_text(vm.hardware_profile.vm_size if vm.hardware_profile else None),
            spot=_text(vm.priority).lower() == "spot",
            state=_state(vm),
            tags={**group_tags, **(vm.tags or {})},
        )

    # -- errors -----------------------------------------------------------------------------------

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (HttpResponseError, ServiceRequestError) as exc:
            raise self._error(exc, action) from exc

    def _error(self, exc: Exception, action: str, spot: bool = False) -> ProviderError:
        """Translate an SDK error into one line that says what to fix."""
        if isinstance(exc, ServiceRequestError):
            return ProviderError(f"Could not reach Azure to {action}: {_first_line(str(exc))}")
        assert isinstance(exc, HttpResponseError)
        codes, message, target = _error_parts(exc)
        said = f"Azure said: {'/'.join(codes) or exc.status_code}: {message}"
        if isinstance(exc, ClientAuthenticationError) or exc.status_code == 401:
            return ProviderError(
                f"Azure rejected the credentials while trying to {action}: check AZURE_TENANT_ID, AZURE_CLIENT_ID "
                f"and AZURE_CLIENT_SECRET, or the federated credential trusting BITBUCKET_STEP_OIDC_TOKEN. {said}"
            )
        if CAPACITY_CODES.intersection(codes):
            return CapacityError(f"No capacity to {action} ({'spot' if spot else 'on-demand'}). {said}")
        if QUOTA_CODES.intersection(codes) and "quota" in message.lower():
            if spot:  # Spot has its own (low-priority) vCPU quota: on-demand may still fit
                return CapacityError(f"Spot vCPU quota exhausted to {action}. {said}")
            return ProviderError(
                f"vCPU quota exhausted to {action}: request a quota increase for this VM family in "
                f"{self.region} (Azure portal > Quotas) or pick a smaller CLOUD_TYPE. {said}"
            )
        if "LinkedAuthorizationFailed" in codes:
            return ProviderError(
                f"Not allowed to {action}: give the service principal AZURE_CLIENT_ID the Managed Identity Operator "
                f"role on the identities in CLOUD_PERMISSION_SET. {said}"
            )
        if "AuthorizationFailed" in codes or exc.status_code == 403:
            return ProviderError(
                f"Not allowed to {action}: give the service principal AZURE_CLIENT_ID the Contributor role (or "
                f"Virtual Machine Contributor and Network Contributor) on subscription {self.subscription_id}. {said}"
            )
        if "MissingSubscriptionRegistration" in codes:
            return ProviderError(
                f"Cannot {action}: register the resource providers Microsoft.Compute and Microsoft.Network on "
                f"subscription {self.subscription_id} (az provider register -n <namespace>). {said}"
            )
        variable = _VARIABLE_BY_CODE.get(next((c for c in codes if c in _VARIABLE_BY_CODE), ""), "")
        if not variable and target:
            variable = next((v for key, v in _VARIABLE_BY_TARGET if key in target.lower()), "")
        if variable:
            return ProviderError(f"Azure refused to {action}: check {variable}. {said}")
        return ProviderError(f"Azure failed to {action}. {said}")


def from_env(region: str, env: Mapping[str, str], **client_kwargs: Any) -> AzureProvider:
    """Build the adapter from the step's variables.

    Credentials: AZURE_SUBSCRIPTION_ID, AZURE_TENANT_ID, AZURE_CLIENT_ID and either
    AZURE_CLIENT_SECRET (service principal) or BITBUCKET_STEP_OIDC_TOKEN (a step with
    `oidc: true` and a federated credential on the app registration); the secret wins
    when both are present. AZURE_PUBLIC_IP (default true) controls the public IP.
    Test-only (the local Azure server): AZURE_RESOURCE_MANAGER_ENDPOINT (ARM base URL),
    AZURE_AUTHORITY_HOST (Entra ID sign-in host), AZURE_CA_BUNDLE (CA file to trust).
    client_kwargs go to every management client (tests: polling_interval=0).
    """
    subscription = env.get("AZURE_SUBSCRIPTION_ID", "").strip()
    tenant = env.get("AZURE_TENANT_ID", "").strip()
    client = env.get("AZURE_CLIENT_ID", "").strip()
    secret = env.get("AZURE_CLIENT_SECRET", "")
    oidc_token = env.get("BITBUCKET_STEP_OIDC_TOKEN", "")
    missing = [
        name
        for name, value in (
            ("AZURE_SUBSCRIPTION_ID", subscription),
            ("AZURE_TENANT_ID", tenant),
            ("AZURE_CLIENT_ID", client),
        )
        if not value
    ]
    if not secret and not oidc_token:
        missing.append("AZURE_CLIENT_SECRET (or `oidc: true` on the step)")
    if missing:
        raise ProviderError(
            "Azure credentials missing: set " + ", ".join(missing) + ". CLOUD=azure needs AZURE_SUBSCRIPTION_ID, "
            "AZURE_TENANT_ID, AZURE_CLIENT_ID and either AZURE_CLIENT_SECRET or OIDC (BITBUCKET_STEP_OIDC_TOKEN)"
        )
    public_ip = _bool(env, "AZURE_PUBLIC_IP", default=True)
    # The CA bundle is trusted only by the endpoints that are overridden (pipe/config/endpoints.py checked that
    # they are loopback): a sign-in or ARM call to the real Azure keeps the system's CAs.
    verify = env.get("AZURE_CA_BUNDLE") or None
    authority = env.get("AZURE_AUTHORITY_HOST") or None
    base_url = env.get("AZURE_RESOURCE_MANAGER_ENDPOINT") or None
    credential_kwargs: dict[str, Any] = {}
    if authority:
        credential_kwargs.update(authority=authority, disable_instance_discovery=True)
        if verify:
            credential_kwargs["connection_verify"] = verify
    credential: TokenCredential
    if secret:
        credential = ClientSecretCredential(tenant, client, secret, **credential_kwargs)
    else:
        credential = ClientAssertionCredential(tenant, client, lambda: oidc_token, **credential_kwargs)
    return AzureProvider(
        region,
        subscription_id=subscription,
        credential=credential,
        base_url=base_url,
        connection_verify=verify if base_url else None,
        public_ip=public_ip,
        **client_kwargs,
    )


# -- helpers ---------------------------------------------------------------------------------------


def _parse_image(image: str) -> cm.ImageReference:
    parts = image.split(":")
    if len(parts) != 4 or not all(p.strip() for p in parts):
        raise ProviderError(
            f"CLOUD_IMAGE: {image!r} is not valid; on Azure use publisher:offer:sku:version, e.g. {DEFAULT_IMAGE}"
        )
    publisher, offer, sku, version = (p.strip() for p in parts)
    return cm.ImageReference(publisher=publisher, offer=offer, sku=sku, version=version)


def _identity(permission_set: str) -> cm.VirtualMachineIdentity | None:
    ids = [i.strip() for i in permission_set.split(",") if i.strip()]
    if not ids:
        return None
    bad = [i for i in ids if not _IDENTITY_ID.match(i)]
    if bad:
        raise ProviderError(
            f"CLOUD_PERMISSION_SET: {bad[0]!r} is not valid; on Azure use comma-separated user-assigned identity ids "
            "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>"
        )
    return cm.VirtualMachineIdentity(
        type="UserAssigned", user_assigned_identities={i: cm.UserAssignedIdentitiesValue() for i in ids}
    )


def _finish(poller: LROPoller[T], what: str) -> T:
    """poller.result(), saying every ~15 s what is being waited for: VM creation takes minutes."""
    progress = Progress(what)
    while not poller.done():
        poller.wait(timeout=PROGRESS_EVERY_S)
        progress.tick(f"status {poller.status()}")
    return poller.result()


def _custom_data(user_data: str | bytes) -> str:
    """Base64 as the API wants it (the SDK sends it as given); bytes (gzip) pass as is: cloud-init unzips."""
    raw = user_data.encode() if isinstance(user_data, str) else user_data
    if len(raw) > CUSTOM_DATA_MAX_BYTES:
        raise ProviderError(f"The startup script is {len(raw)} bytes; Azure custom data allows {CUSTOM_DATA_MAX_BYTES}")
    return base64.b64encode(raw).decode("ascii")


# Azure's refusal of an OS disk smaller than the image's (hitachienergy/epiphany#1049): code OperationNotAllowed,
# target osDisk.diskSizeGB, "The specified disk size 30 GB is smaller than the size of the corresponding disk in
# the VM image: 32 GB. This is not allowed. Please choose equal or greater size or do not specify an explicit size."
_IMAGE_DISK = re.compile(r"smaller than the size of the corresponding disk in the VM image: (\d+) GB")


def _image_disk_gb_from(exc: HttpResponseError) -> int | None:
    codes, message, _ = _error_parts(exc)
    found = _IMAGE_DISK.search(message)
    return int(found.group(1)) if found and "OperationNotAllowed" in codes else None


def _max_price(spot_price: float | None) -> float:
    """-1 = pay up to the on-demand price, never evicted for price."""
    return -1.0 if spot_price is None or spot_price < 0 else round(float(spot_price), 5)


@functools.cache
def _throwaway_ssh_key() -> str:
    """An RSA public key whose private half is dropped at once: SSH login is impossible.

    One per process (RSA generation takes ~0.2 s); Azure wants at least 2048-bit RSA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode("ascii")


_POWER_STATES = {
    "starting": "pending",
    "running": "running",
    "stopping": "stopping",
    "deallocating": "stopping",
    "stopped": "stopped",  # stopped but allocated: still billed
    "deallocated": "stopped",  # the disk and IP still bill
}


def _state(vm: cm.VirtualMachine) -> str:
    """pending | running | stopping | stopped, from the instance view when there is one."""
    statuses = [(s.code or "").lower() for s in (vm.instance_view.statuses or [])] if vm.instance_view else []
    provisioning = next((c.split("/", 1)[1] for c in statuses if c.startswith("provisioningstate/")), "")
    provisioning = provisioning or (vm.provisioning_state or "").lower()
    if provisioning == "deleting":
        return "stopping"
    power = next((c.split("/", 1)[1] for c in statuses if c.startswith("powerstate/")), "")
    if power in _POWER_STATES:
        return _POWER_STATES[power]
    if provisioning.startswith("failed"):
        return "stopped"  # a failed VM still holds its disk and NIC: let the sweep delete it
    return "running" if provisioning == "succeeded" and vm.instance_view is None else "pending"


def _error_parts(exc: HttpResponseError) -> tuple[list[str], str, str]:
    """(codes, message, target) from the top-level error and its details."""
    error = exc.error
    codes: list[str] = []
    message = ""
    target = ""
    if error is not None:
        codes = [c for c in [error.code, *(d.code for d in (error.details or []))] if c]
        message = error.message or ""
        target = error.target or next((d.target for d in (error.details or []) if d.target), "") or ""
        detail_messages = [d.message for d in (error.details or []) if d.message]
        if detail_messages and detail_messages[0] not in message:
            message = f"{message} {detail_messages[0]}".strip()
    return codes, _first_line(message or exc.reason or str(exc)), target


def _text(value: object) -> str:
    """An SDK enum member or string as its plain value."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    return "" if value is None else str(value)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    raise ProviderError(f"{name}: {env[name]!r} is not valid; use true or false")

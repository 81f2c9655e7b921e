"""The Provider on Compute Engine: zones, images, launch (with its half-created cleanup), list and delete."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    TAG_RUNNER_UUID,
    CapacityError,
    Instance,
    InstanceSpec,
    ProviderError,
)
from pipe.providers.gcp import egress
from pipe.providers.gcp.api import ComputeApi
from pipe.providers.gcp.baked import MakesGcpImages
from pipe.providers.gcp.credentials import MISSING_CREDENTIALS
from pipe.providers.gcp.errors import launch_failure, op_error
from pipe.providers.gcp.images import Images
from pipe.providers.gcp.network import last
from pipe.providers.gcp.request import Network, instance_body, sanitise_labels
from pipe.providers.quota import QuotaNeed
from pipe.providers.tags import label_value

POLL_INTERVAL_S = 2.0  # between operation waits
RETRY_BACKOFF_S = 1.0  # the first retry's wait, doubled at each retry
LOCAL_WAIT_S = 0.05  # both, against the local stand-in (GCP_COMPUTE_ENDPOINT)

STATES = {
    "PROVISIONING": "pending",
    "STAGING": "pending",
    "REPAIRING": "pending",
    "RUNNING": "running",
    "PENDING_STOP": "stopping",
    "STOPPING": "stopping",
    "SUSPENDING": "stopping",
    # A stopped/terminated GCP instance still exists and bills its disk: the sweep deletes it.
    "STOPPED": "stopped",
    "SUSPENDED": "stopped",
    "TERMINATED": "stopped",
}

_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
_CUSTOM = re.compile(r"^(?:([a-z0-9]+)-)?custom-\d+-\d+(?:-ext)?$")


def _probe_type(instance_type: str) -> str:
    """A listable type of the same series: custom types never appear in machineTypes.list."""
    custom = _CUSTOM.match(instance_type)
    if custom:
        return f"{custom.group(1) or 'n1'}-standard-2"
    return instance_type


class GcpProvider(MakesGcpImages):
    """The Provider for Compute Engine, in one project and region; makes images of ours (baked.py)."""

    cloud = "gcp"

    def __init__(
        self,
        region: str,
        *,
        project: str | None = None,
        endpoint: str | None = None,
        credentials: Any = None,
        network: str = "",
        subnetwork: str = "",
        external_ip: bool = True,
        credentials_source: str = "",
        poll_interval_s: float = POLL_INTERVAL_S,
        operation_timeout_s: float = 600.0,
        retry_attempts: int = 4,
        retry_backoff_s: float = RETRY_BACKOFF_S,
    ) -> None:
        zone = _ZONE.match(region)
        self.region = zone.group(1) if zone else region  # a zone given as region ('us-west1-b', CML style)
        if not project:
            raise ProviderError("GCP_PROJECT is not set: name the project to create runners in")
        if credentials is None:
            if not endpoint:
                raise ProviderError(MISSING_CREDENTIALS)
            credentials = AnonymousCredentials()  # test-only endpoint
        self.api = ComputeApi(
            project,
            self.region,
            endpoint=endpoint,
            credentials=credentials,
            source=credentials_source or "the GCP credentials",
            poll_interval_s=poll_interval_s,
            operation_timeout_s=operation_timeout_s,
            retry_attempts=retry_attempts,
            retry_backoff_s=retry_backoff_s,
        )
        self.way = Network(self.region, network or "default", subnetwork, external_ip)
        self.images = Images(self.api)
        self._network_ready = False  # our firewall rule exists, and Cloud NAT was found where needed

    @property
    def project(self) -> str:
        return self.api.project

    def quota_needs(
        self, instance_type: str, accelerator: str, accelerator_count: int, *, spot: bool
    ) -> list[QuotaNeed]:
        """The regional and project-wide quotas one instance counts against (providers/quota.py; gcp/quota.py)."""
        from pipe.providers.gcp import quota

        return quota.quota_needs(self.api, instance_type, accelerator, accelerator_count, spot=spot)

    def zones(self, instance_type: str) -> list[str]:
        """Zones of the region offering instance_type, in name order: one aggregated call."""
        probe = _probe_type(instance_type)
        request = compute_v1.AggregatedListMachineTypesRequest(project=self.api.project, filter=f'name = "{probe}"')

        def run() -> list[str]:
            found = []
            for scope, listed in self.api.machine_types.aggregated_list(request=request, retry=None):
                zone = scope.removeprefix("zones/")
                if zone.startswith(self.region + "-") and any(t.name == probe for t in listed.machine_types):
                    found.append(zone)
            return sorted(found)

        try:
            zones = self.api.call(run, "list machine types")
        except gexc.GoogleAPICallError as exc:
            raise self.api.explain(exc, "list machine types", "compute.machineTypes.list") from None
        if not zones:
            raise ProviderError(f"CLOUD_TYPE: machine type {instance_type} is not offered in any zone of {self.region}")
        return zones

    def resolve_image(self, requested: str, gpu: bool) -> str:
        return self.images.resolve(requested, gpu)

    def image_disk_gb(self, image: str) -> int | None:
        return self.images.disk_gb(image)

    def _prepare_network(self) -> None:
        """Once per run (egress.py): our deny-ingress rule, and Cloud NAT where there is no external IP."""
        if self._network_ready:
            return
        egress.ensure_firewall(self.api, self.way.network)
        if not self.way.external_ip:
            egress.require_nat(self.api, self.way)
        self._network_ready = True

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        body = instance_body(spec, zone, spot, self.way)
        self._prepare_network()
        request = compute_v1.InsertInstanceRequest(
            project=self.api.project, zone=zone, instance_resource=body, request_id=str(uuid.uuid4())
        )
        action = f"create instance {spec.name} in {zone}"
        permission = (
            "compute.instances.create, compute.disks.create, compute.subnetworks.use, compute.instances.setMetadata "
            "and compute.instances.setLabels (roles/compute.instanceAdmin.v1)"
            + (", and iam.serviceAccounts.actAs on the CLOUD_PERMISSION_SET account (roles/iam.serviceAccountUser)"
               if body.service_accounts else "")
        )  # fmt: skip
        try:
            op = self.api.call(lambda: self.api.instances.insert_unary(request=request, retry=None), action)
        except gexc.Conflict:
            return self._existing(spec, zone)
        except gexc.GoogleAPICallError as exc:
            # A synchronous rejection created nothing.
            raise self._failure(exc.message or str(exc), "", exc, action, permission, zone, spot) from None
        except ProviderError:
            self._cleanup(spec, zone)  # the insert may have landed before the API stopped answering
            raise
        try:
            op = self.api.wait(zone, op, action)
            code, message = op_error(op)
            if code:
                op_exc = gexc.from_http_status(op.http_error_status_code or 400, message, errors=[{"reason": code}])
                raise self._failure(message, code, op_exc, action, permission, zone, spot)
            inst = self._get(zone, spec.name, action)
        except gexc.NotFound:
            self._cleanup(spec, zone)
            raise CapacityError(f"GCP: instance {spec.name} vanished right after creation in {zone}") from None
        except BaseException:
            self._cleanup(spec, zone)  # includes KeyboardInterrupt/SystemExit from the flow's signal handler
            raise
        return self._to_instance(inst)

    def _existing(self, spec: InstanceSpec, zone: str) -> Instance:
        """409 on insert: ours from an earlier attempt (same runner) is fine, anything else is an error."""
        try:
            inst = self._get(zone, spec.name, f"read instance {spec.name}")
        except gexc.GoogleAPICallError as exc:
            raise self.api.explain(exc, f"read instance {spec.name}", "compute.instances.get") from None
        if not self._is_ours_for(inst, spec):
            raise ProviderError(f"An instance named {spec.name} already exists in {zone} and is not this runner's")
        return self._to_instance(inst)

    @staticmethod
    def _is_ours_for(inst: compute_v1.Instance, spec: InstanceSpec) -> bool:
        wanted = sanitise_labels(spec.tags)
        labels = dict(inst.labels)
        return labels.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE and labels.get(TAG_RUNNER_UUID) == wanted.get(
            TAG_RUNNER_UUID
        )

    def _cleanup(self, spec: InstanceSpec, zone: str) -> None:
        """Delete a half-created instance of this launch, if any. Never raises; never touches others' VMs."""
        try:
            inst = self._get(zone, spec.name, "check for a half-created instance")
            if self._is_ours_for(inst, spec):
                self._delete(zone, spec.name)
        except (gexc.GoogleAPICallError, ProviderError):
            pass  # nothing there, or the sweep will find it by its labels

    def _delete(self, zone: str, name: str) -> None:
        op = self._start_delete(zone, name)
        if op is not None:
            self._finish_delete(zone, name, op)

    def _start_delete(self, zone: str, name: str) -> compute_v1.Operation | None:
        """The delete operation, or None when the instance is already gone."""
        action = f"delete instance {name} in {zone}"
        try:
            request = compute_v1.DeleteInstanceRequest(
                project=self.api.project, zone=zone, instance=name, request_id=str(uuid.uuid4())
            )
            return self.api.call(lambda: self.api.instances.delete_unary(request=request, retry=None), action)
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as exc:
            raise self.api.explain(exc, action, "compute.instances.delete") from None

    def _finish_delete(self, zone: str, name: str, op: compute_v1.Operation) -> None:
        action = f"delete instance {name} in {zone}"
        op = self.api.wait(zone, op, action)
        code, message = op_error(op)
        if code and code != "RESOURCE_NOT_FOUND":
            raise ProviderError(f"GCP failed to {action} ({code}): {message}")

    def list_ours(self, repository_tag: str | None = None, *, with_state: bool = True) -> list[Instance]:
        """One aggregated list per 500 of ours (the state comes with it: with_state changes nothing)."""
        wanted = {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE}
        if repository_tag:
            wanted[TAG_REPOSITORY] = label_value(repository_tag)
        request = compute_v1.AggregatedListInstancesRequest(
            project=self.api.project, filter=" ".join(f'(labels.{k} = "{v}")' for k, v in wanted.items())
        )

        def run() -> list[Instance]:
            found = []
            for scope, listed in self.api.instances.aggregated_list(request=request, retry=None):
                if not scope.removeprefix("zones/").startswith(self.region + "-"):
                    continue
                for inst in listed.instances:
                    labels = dict(inst.labels)
                    if all(labels.get(k) == v for k, v in wanted.items()):  # never trust the filter alone
                        found.append(self._to_instance(inst))
            return found

        try:
            return self.api.call(run, "list instances")
        except gexc.GoogleAPICallError as exc:
            raise self.api.explain(exc, "list instances", "compute.instances.list") from None

    def terminate(self, instance: Instance) -> None:
        self._delete(instance.zone, instance.id)

    def terminate_many(self, instances: Sequence[Instance], *, wait: bool = True) -> None:
        """Compute has no bulk delete: every delete is started first, then the operations are waited on
        together, so N instances take one operation's time rather than N (wait=False: not at all)."""
        started = [(i, self._start_delete(i.zone, i.id)) for i in instances]
        if not wait:
            return
        for instance, op in started:
            if op is not None:
                self._finish_delete(instance.zone, instance.id, op)

    def _get(self, zone: str, name: str, action: str) -> compute_v1.Instance:
        return self.api.call(
            lambda: self.api.instances.get(project=self.api.project, zone=zone, instance=name, retry=None), action
        )

    def _failure(
        self, message: str, code: str, exc: gexc.GoogleAPICallError, action: str, permission: str, zone: str, spot: bool
    ) -> ProviderError:
        return launch_failure(message, code, zone, spot, self.region) or self.api.explain(exc, action, permission)

    def _to_instance(self, inst: compute_v1.Instance) -> Instance:
        scheduling = inst.scheduling
        return Instance(
            cloud=self.cloud,
            id=inst.name,
            name=inst.name,
            region=self.region,
            zone=last(inst.zone),
            instance_type=last(inst.machine_type),
            spot=scheduling.provisioning_model == "SPOT" or bool(scheduling.preemptible),
            state=STATES.get(inst.status, "pending"),
            tags=dict(inst.labels),
        )


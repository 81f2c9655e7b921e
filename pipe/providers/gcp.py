"""Google Cloud (Compute Engine) adapter: one module that speaks google-cloud-compute.

Imported only when CLOUD=gcp (the compute SDK takes ~2 s to import).

Choices, documented for the README:
- Operations are waited on with our own ZoneOperationsClient built with the same
  client options (never ExtendedOperation.result(), whose internal client ignores
  the endpoint), bounded by a deadline.
- Every call is retried on 5xx/429/connection errors with a short bounded backoff;
  insert carries a requestId so a retried insert cannot create a second instance.
- Egress and inbound (gcp_network.py): an ephemeral external IP by default, so a fresh
  project's default network (no Cloud NAT) reaches Bitbucket; GCP_EXTERNAL_IP=false for
  projects with Cloud NAT, which is then looked for on the subnet's region before the insert.
  Every VM carries the network tag cml-runner-pipe, and a firewall rule of ours (created once
  per network, kept, like the AWS security group) denies all ingress to that tag.
- Service account: none unless CLOUD_PERMISSION_SET names one (least privilege: the
  VM gets no Google credentials at all). A VM without credentials cannot delete
  itself when idle; it is removed by maxRunDuration (MAX_LIFETIME, deleted on
  expiry) and by the sweep. To let it delete itself, pass a dedicated service
  account with compute.instances.delete (ideally an IAM condition on the name
  prefix "cml-"), e.g. CLOUD_PERMISSION_SET: 'runner@PROJECT.iam.gserviceaccount.com'.
  Given an account without scopes, the VM gets the cloud-platform scope and IAM
  decides (Google's recommended practice).
- Images: CLOUD_IMAGE 'project/family' is resolved to the family's current image
  (pinned for all zone attempts), a link or 'projects/...' path is used as is. The
  default is Ubuntu 24.04 LTS (ubuntu-os-cloud/ubuntu-2404-lts-amd64); with a GPU,
  Google's Deep Learning VM base image with CUDA 12.8 and the NVIDIA 570 driver
  preinstalled (deeplearning-platform-release/common-cu128-ubuntu-2204-nvidia-570).
- GCP_COMPUTE_ENDPOINT is test-only: it points the SDK at a local stand-in, with
  anonymous credentials and the REST transport.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, TypeVar

import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from pipe.progress import Progress
from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    TAG_RUNNER_SCOPE,
    TAG_RUNNER_UUID,
    CapacityError,
    Instance,
    InstanceSpec,
    ProviderError,
)
from pipe.providers.catalog import DEFAULT_IMAGES, gcp_type_has_gpu
from pipe.providers.gcp_auth import MISSING_CREDENTIALS, credentials_from_env
from pipe.providers.gcp_network import NETWORK_TAG, deny_ingress_rule, firewall_name, nat_serving, network_path
from pipe.providers.tags import label_value

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE = DEFAULT_IMAGES["gcp"]
DISK_TYPE = "pd-balanced"

# Operation/HTTP error codes that mean "no capacity here now": try another zone or market.
CAPACITY_CODES = frozenset(
    {
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        "RESOURCE_POOL_EXHAUSTED",
        "STOCKOUT",
    }
)
CAPACITY_MESSAGES = ("does not have enough resources available", "resource pool exhausted")
QUOTA_CODES = frozenset({"QUOTA_EXCEEDED", "quotaExceeded", "rateLimitExceeded"})
# A zone that does not offer the machine type or accelerator is, for the flow, a zone without capacity.
NOT_OFFERED = re.compile(r"(Machine type|Accelerator type) .* does not exist in zone", re.IGNORECASE)
RETRYABLE = (
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.TooManyRequests,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)

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

SCOPE_ALIASES = {
    "bigquery": "https://www.googleapis.com/auth/bigquery",
    "cloud-platform": "https://www.googleapis.com/auth/cloud-platform",
    "compute-ro": "https://www.googleapis.com/auth/compute.readonly",
    "compute-rw": "https://www.googleapis.com/auth/compute",
    "datastore": "https://www.googleapis.com/auth/datastore",
    "logging-write": "https://www.googleapis.com/auth/logging.write",
    "monitoring": "https://www.googleapis.com/auth/monitoring",
    "monitoring-write": "https://www.googleapis.com/auth/monitoring.write",
    "pubsub": "https://www.googleapis.com/auth/pubsub",
    "storage-full": "https://www.googleapis.com/auth/devstorage.full_control",
    "storage-ro": "https://www.googleapis.com/auth/devstorage.read_only",
    "storage-rw": "https://www.googleapis.com/auth/devstorage.read_write",
}

_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
_CUSTOM = re.compile(r"^(?:([a-z0-9]+)-)?custom-\d+-\d+(?:-ext)?$")
_FAMILY = re.compile(r"^([a-z][-a-z0-9.:]*[a-z0-9])/([a-z][-a-z0-9]*)$")
_IMAGE_PATH = re.compile(r"(?:^|/)projects/[^/]+/global/images/(?:family/)?[^/]+$")
_IMAGE_LINK = re.compile(r"(?:^|/)projects/([^/]+)/global/images/(family/)?([^/]+)$")


# ----------------------------------------------------------------------------------------------
# Pure helpers (no I/O)


def sanitise_labels(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags as valid GCP labels (tags.label_value rules); keys start with a letter; ours win collisions."""
    ours = {TAG_MANAGED_BY, TAG_REPOSITORY, TAG_RUNNER_SCOPE, TAG_RUNNER_UUID}
    out: dict[str, str] = {}
    for key, value in sorted(tags.items(), key=lambda kv: kv[0] in ours):
        clean = label_value(key)
        if not clean or not clean[0].isalpha():
            clean = ("x" + clean)[:63]
        out[clean] = label_value(value)
    if len(out) > 64:
        raise ProviderError(f"GCP allows at most 64 labels per instance; CLOUD_METADATA gives {len(out)} in all")
    return out


def parse_permission_set(text: str) -> tuple[str, list[str]]:
    """CLOUD_PERMISSION_SET 'email[,scopes=a,b]' -> (email, scope URLs). Empty -> no service account."""
    text = text.strip()
    if not text:
        return "", []
    head, _, scope_text = text.partition("scopes=")
    email = head.rstrip(", ").strip()
    scopes = []
    for item in (s.strip() for s in scope_text.split(",")):
        if not item:
            continue
        if item.startswith("https://"):
            scopes.append(item)
        elif item in SCOPE_ALIASES:
            scopes.append(SCOPE_ALIASES[item])
        else:
            raise ProviderError(
                f"CLOUD_PERMISSION_SET: unknown scope {item!r}; use a scope URL or one of {', '.join(SCOPE_ALIASES)}"
            )
    if not email:
        email = "default"  # the project's default compute service account
    if email != "default" and "@" not in email:
        raise ProviderError(
            "CLOUD_PERMISSION_SET must be a service account email, optionally followed by ',scopes=a,b' "
            "(e.g. runner@my-project.iam.gserviceaccount.com,scopes=storage-ro)"
        )
    return email, scopes or [SCOPE_ALIASES["cloud-platform"]]


def startup_script_text(user_data: str | bytes) -> str:
    """The startup-script metadata value: text. The flow renders GCP scripts as str (GCP does not unzip
    metadata, so render_user_data never gzips for GCP); plain bytes are decoded, gzip is refused."""
    if isinstance(user_data, str):
        return user_data
    if user_data[:2] == b"\x1f\x8b":
        raise ProviderError("GCP startup-script metadata cannot be gzip-compressed; shorten CLOUD_STARTUP_SCRIPT")
    return user_data.decode("utf-8")


def _last(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def _probe_type(instance_type: str) -> str:
    """A listable type of the same series: custom types never appear in machineTypes.list."""
    custom = _CUSTOM.match(instance_type)
    if custom:
        return f"{custom.group(1) or 'n1'}-standard-2"
    return instance_type


def _op_error(op: compute_v1.Operation) -> tuple[str, str]:
    errors = list(op.error.errors) if op.error else []
    if not errors:
        return "", ""
    return errors[0].code, "; ".join(e.message for e in errors)


# ----------------------------------------------------------------------------------------------
# The adapter


class GcpProvider:
    """The Provider for Compute Engine, in one project and region."""

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
        poll_interval_s: float = 2.0,
        operation_timeout_s: float = 600.0,
        retry_attempts: int = 4,
        retry_backoff_s: float = 1.0,
    ) -> None:
        zone = _ZONE.match(region)
        self.region = zone.group(1) if zone else region  # a zone given as region ('us-west1-b', CML style)
        if not project:
            raise ProviderError("GCP_PROJECT is not set: name the project to create runners in")
        if credentials is None:
            if not endpoint:
                raise ProviderError(MISSING_CREDENTIALS)
            credentials = AnonymousCredentials()  # test-only endpoint
        self.project = project
        self.endpoint = endpoint
        self.network = network
        self.subnetwork = subnetwork
        self.external_ip = external_ip
        self.poll_interval_s = poll_interval_s
        self.operation_timeout_s = operation_timeout_s
        self.retry_attempts = max(1, retry_attempts)
        self.retry_backoff_s = retry_backoff_s
        self._credentials = credentials
        self._source = credentials_source or "the GCP credentials"
        self._image_gb: dict[str, int] = {}  # image link -> diskSizeGb, learnt by resolve_image
        self._network_ready = False  # our firewall rule exists, and Cloud NAT was found where needed

    # ---- clients (built on first use; all share the endpoint and credentials) ---------------
    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"credentials": self._credentials, "transport": "rest"}
        if self.endpoint:
            kwargs["client_options"] = {"api_endpoint": self.endpoint}
        return kwargs

    @cached_property
    def _instances(self) -> compute_v1.InstancesClient:
        return compute_v1.InstancesClient(**self._client_kwargs())

    @cached_property
    def _operations(self) -> compute_v1.ZoneOperationsClient:
        return compute_v1.ZoneOperationsClient(**self._client_kwargs())

    @cached_property
    def _images(self) -> compute_v1.ImagesClient:
        return compute_v1.ImagesClient(**self._client_kwargs())

    @cached_property
    def _machine_types(self) -> compute_v1.MachineTypesClient:
        return compute_v1.MachineTypesClient(**self._client_kwargs())

    @cached_property
    def _firewalls(self) -> compute_v1.FirewallsClient:
        return compute_v1.FirewallsClient(**self._client_kwargs())

    @cached_property
    def _global_operations(self) -> compute_v1.GlobalOperationsClient:
        return compute_v1.GlobalOperationsClient(**self._client_kwargs())

    @cached_property
    def _routers(self) -> compute_v1.RoutersClient:
        return compute_v1.RoutersClient(**self._client_kwargs())

    # ---- plumbing ---------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], action: str) -> T:
        """fn() with bounded retries on transient errors; the SDK's own retries are off (retry=None)."""
        for attempt in range(1, self.retry_attempts + 1):
            try:
                return fn()
            except RETRYABLE as exc:
                if attempt == self.retry_attempts:
                    status = getattr(exc, "code", None) or type(exc).__name__
                    raise ProviderError(
                        f"GCP API unavailable while trying to {action} ({status}) after {attempt} attempts; "
                        "retry the step later"
                    ) from None
                time.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _explain(self, exc: gexc.GoogleAPICallError, action: str, permission: str) -> ProviderError:
        """A ProviderError whose message says what to fix."""
        message = exc.message or str(exc)
        reasons = {str(e.get("reason", "")) for e in (exc.errors or []) if isinstance(e, dict)}
        if reasons & QUOTA_CODES or "quota" in message.lower():
            return ProviderError(
                f"GCP quota exceeded while trying to {action} in {self.region}: {message}. Request more quota "
                "(IAM & Admin > Quotas) or choose a smaller CLOUD_TYPE / CLOUD_GPU or another CLOUD_REGION"
            )
        if isinstance(exc, gexc.Unauthorized):
            return ProviderError(f"GCP rejected {self._source} (HTTP 401) while trying to {action}: check the key "
                                 "or the workload identity provider")  # fmt: skip
        if isinstance(exc, gexc.Forbidden):
            if "accessNotConfigured" in reasons or "has not been used" in message or "is disabled" in message:
                return ProviderError(f"Enable the Compute Engine API (compute.googleapis.com) in project "
                                     f"{self.project}: {message}")  # fmt: skip
            return ProviderError(
                f"GCP denied permission to {action}: {self._source} need {permission} in project "
                f"{self.project} ({message})"
            )
        if isinstance(exc, gexc.NotFound):
            if "/images/" in message:
                return ProviderError(f"CLOUD_IMAGE: image not found ({message})")
            if "/networks/" in message or "/subnetworks/" in message:
                return ProviderError(f"GCP_NETWORK / GCP_SUBNETWORK: not found ({message})")
            if "serviceAccount" in message or "service account" in message.lower():
                return ProviderError(f"CLOUD_PERMISSION_SET: service account not found ({message})")
            if re.search(r"projects/[^/']+'", message):
                return ProviderError(f"GCP_PROJECT {self.project!r} not found or not visible to {self._source}")
        return ProviderError(f"GCP failed to {action} (HTTP {exc.code}): {message}")

    def _wait(self, zone: str, op: compute_v1.Operation, action: str) -> compute_v1.Operation:
        """Poll our own ZoneOperationsClient.wait (GlobalOperationsClient for zone "") until DONE, bounded by
        operation_timeout_s."""
        deadline = time.monotonic() + self.operation_timeout_s
        progress = Progress(f"GCP to {action}")
        while op.status != compute_v1.Operation.Status.DONE:
            progress.tick(f"operation {op.name} {op.status.name if op.status else 'PENDING'}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(
                    f"GCP operation {op.name} ({action}) not done after {self.operation_timeout_s:.0f} s"
                )
            started = time.monotonic()
            timeout = min(remaining, 150.0)
            wait: Callable[[], compute_v1.Operation]
            if zone:
                zonal = compute_v1.WaitZoneOperationRequest(project=self.project, zone=zone, operation=op.name)
                wait = functools.partial(self._operations.wait, request=zonal, retry=None, timeout=timeout)
            else:
                glob = compute_v1.WaitGlobalOperationRequest(project=self.project, operation=op.name)
                wait = functools.partial(self._global_operations.wait, request=glob, retry=None, timeout=timeout)
            try:
                op = self._call(wait, f"wait for {action}")
            except gexc.GoogleAPICallError as exc:
                raise self._explain(exc, f"wait for {action}", "compute.zoneOperations.get") from None
            if op.status != compute_v1.Operation.Status.DONE:
                time.sleep(max(0.0, min(self.poll_interval_s - (time.monotonic() - started), remaining)))
        return op

    def _to_instance(self, inst: compute_v1.Instance) -> Instance:
        scheduling = inst.scheduling
        return Instance(
            cloud=self.cloud,
            id=inst.name,
            name=inst.name,
            region=self.region,
            zone=_last(inst.zone),
            instance_type=_last(inst.machine_type),
            spot=scheduling.provisioning_model == "SPOT" or bool(scheduling.preemptible),
            state=STATES.get(inst.status, "pending"),
            tags=dict(inst.labels),
        )

    # ---- Provider ---------------------------------------------------------------------------
    def zones(self, instance_type: str) -> list[str]:
        """Zones of the region offering instance_type, in name order: one aggregated call."""
        probe = _probe_type(instance_type)
        request = compute_v1.AggregatedListMachineTypesRequest(project=self.project, filter=f'name = "{probe}"')

        def run() -> list[str]:
            found = []
            for scope, listed in self._machine_types.aggregated_list(request=request, retry=None):
                zone = scope.removeprefix("zones/")
                if zone.startswith(self.region + "-") and any(t.name == probe for t in listed.machine_types):
                    found.append(zone)
            return sorted(found)

        try:
            zones = self._call(run, "list machine types")
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, "list machine types", "compute.machineTypes.list") from None
        if not zones:
            raise ProviderError(f"CLOUD_TYPE: machine type {instance_type} is not offered in any zone of {self.region}")
        return zones

    def resolve_image(self, requested: str, gpu: bool) -> str:
        requested = requested.strip() or (DEFAULT_GPU_IMAGE if gpu else DEFAULT_CPU_IMAGE)
        if requested.startswith("https://") or _IMAGE_PATH.search(requested):
            return requested  # a link or path: used as is
        match = _FAMILY.match(requested)
        if not match:
            raise ProviderError(
                f"CLOUD_IMAGE {requested!r}: use 'project/family' (e.g. {DEFAULT_CPU_IMAGE}), "
                "'project/image-name', or an image link (projects/P/global/images/NAME)"
            )
        project, family = match.groups()
        try:
            image = self._call(
                lambda: self._images.get_from_family(project=project, family=family, retry=None), "look up the image"
            )
        except gexc.NotFound:
            try:  # 'project/image-name' also works
                image = self._call(lambda: self._images.get(project=project, image=family, retry=None),
                                   "look up the image")  # fmt: skip
            except gexc.NotFound:
                raise ProviderError(
                    f"CLOUD_IMAGE {requested!r}: project {project} has no image family or image named {family}"
                ) from None
            except gexc.GoogleAPICallError as exc:
                raise self._explain(exc, "look up the image", "compute.images.get") from None
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, "look up the image", "compute.images.getFromFamily (roles/compute.imageUser "
                                "on private images)") from None  # fmt: skip
        if image.disk_size_gb:
            self._image_gb[str(image.self_link)] = int(image.disk_size_gb)
        return str(image.self_link)

    def image_disk_gb(self, image: str) -> int | None:
        """The image's diskSizeGb: a smaller boot disk is refused ("Requested disk size cannot be smaller than
        the image size (50 GB)", HTTP 400)."""
        if image in self._image_gb:
            return self._image_gb[image]
        match = _IMAGE_LINK.search(image)
        if not match:
            return None
        project, family, name = match.groups()
        try:
            found = self._call(
                (lambda: self._images.get_from_family(project=project, family=name, retry=None))
                if family
                else (lambda: self._images.get(project=project, image=name, retry=None)),
                "look up the image",
            )
        except gexc.NotFound:
            raise ProviderError(f"CLOUD_IMAGE: image not found ({image})") from None
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, "look up the image", "compute.images.get") from None
        size = int(found.disk_size_gb) if found.disk_size_gb else None
        if size:
            self._image_gb[image] = size
        return size

    @property
    def _network_name(self) -> str:
        return self.network or "default"

    def _prepare_network(self) -> None:
        """Once per run: our deny-ingress rule exists on the network; without an external IP, a Cloud NAT
        serves the subnet (else the runner could never reach Bitbucket: refuse now rather than wait it out)."""
        if self._network_ready:
            return
        self._ensure_firewall()
        if not self.external_ip:
            self._require_nat()
        self._network_ready = True

    def _ensure_firewall(self) -> None:
        name = firewall_name(self._network_name)
        action = f"create firewall rule {name}"
        permission = (
            "compute.firewalls.get, compute.firewalls.create and compute.networks.updatePolicy "
            "(roles/compute.securityAdmin), or an administrator creates the rule once: gcloud compute firewall-rules "
            f"create {name} --network={self._network_name} --direction=INGRESS --priority=0 --action=DENY "
            f"--rules=all --source-ranges=0.0.0.0/0 --target-tags={NETWORK_TAG}"
        )
        try:
            self._call(lambda: self._firewalls.get(project=self.project, firewall=name, retry=None), action)
            return  # created by an earlier run (or an administrator): shared, kept
        except gexc.NotFound:
            pass
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, action, permission) from None
        rule = compute_v1.Firewall.from_json(json.dumps(deny_ingress_rule(self._network_name)))  # REST names
        request = compute_v1.InsertFirewallRequest(project=self.project, firewall_resource=rule,
                                                   request_id=str(uuid.uuid4()))  # fmt: skip
        try:
            op = self._call(lambda: self._firewalls.insert_unary(request=request, retry=None), action)
        except gexc.Conflict:
            return  # a concurrent launch created it first
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, action, permission) from None
        code, message = _op_error(self._wait("", op, action))
        if code and code != "RESOURCE_ALREADY_EXISTS":
            raise ProviderError(f"GCP failed to {action} ({code}): {message}")

    def _require_nat(self) -> None:
        action = f"list the Cloud Routers of {self.region}"
        try:
            routers = self._call(
                lambda: list(self._routers.list(project=self.project, region=self.region, retry=None)), action
            )
        except gexc.Forbidden:
            log.warning("Could not check for Cloud NAT in %s (no compute.routers.list): GCP_EXTERNAL_IP is false, "
                        "so the instance reaches Bitbucket only if the subnet has Cloud NAT", self.region)  # fmt: skip
            return
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, action, "compute.routers.list") from None
        nat = nat_serving(routers, self._network_name, self.subnetwork)
        if not nat:
            raise ProviderError(
                f"GCP_EXTERNAL_IP: 'false' is not valid here; network {self._network_name} has no Cloud NAT serving "
                f"{self.subnetwork or 'its subnet'} in {self.region}, so the instance could not reach Bitbucket or "
                "pull the runner image. Leave GCP_EXTERNAL_IP unset (an ephemeral external IP; inbound stays closed) "
                "or add Cloud NAT to the subnet"
            )
        log.info("No external IP: the instance reaches the internet through Cloud NAT %s", nat)

    def instance_body(self, spec: InstanceSpec, zone: str, spot: bool) -> compute_v1.Instance:
        """The insert request body (plain data; also what DRY_RUN could show)."""
        if not _NAME.match(spec.name):
            raise ProviderError(f"Instance name {spec.name!r} is not valid on GCP (lowercase, digits, '-')")
        labels = sanitise_labels(spec.tags)
        attached = spec.accelerator_count > 0 and bool(spec.accelerator)
        # A GPU attached or built into the type (g2, a2, a3...): no live migration (catalog.GCP_GPU_TYPE).
        gpu = attached or gcp_type_has_gpu(spec.instance_type)
        metadata = [
            compute_v1.Items(key="startup-script", value=startup_script_text(spec.user_data)),
            compute_v1.Items(key="block-project-ssh-keys", value="true"),
        ]
        if gpu:
            metadata.append(compute_v1.Items(key="install-nvidia-driver", value="True"))  # Deep Learning VM images
        scheduling = compute_v1.Scheduling(provisioning_model="SPOT" if spot else "STANDARD")
        if spot:
            scheduling.instance_termination_action = "DELETE"
            scheduling.automatic_restart = False
        if spot or gpu:
            scheduling.on_host_maintenance = "TERMINATE"
        if spec.max_lifetime_s:
            scheduling.max_run_duration = compute_v1.Duration(seconds=max(30, int(spec.max_lifetime_s)))
            scheduling.instance_termination_action = "DELETE"
        nic = compute_v1.NetworkInterface(network=network_path(self._network_name))
        if self.subnetwork:
            nic.subnetwork = (
                self.subnetwork if "/" in self.subnetwork else f"regions/{self.region}/subnetworks/{self.subnetwork}"
            )
        if self.external_ip:
            nic.access_configs = [compute_v1.AccessConfig(name="external-nat", type_="ONE_TO_ONE_NAT")]
        body = compute_v1.Instance(
            name=spec.name,
            machine_type=f"zones/{zone}/machineTypes/{spec.instance_type}",
            labels=labels,
            metadata=compute_v1.Metadata(items=metadata),
            scheduling=scheduling,
            network_interfaces=[nic],
            tags=compute_v1.Tags(items=[NETWORK_TAG]),  # our deny-ingress rule targets it
            disks=[
                compute_v1.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    type_="PERSISTENT",
                    initialize_params=compute_v1.AttachedDiskInitializeParams(
                        source_image=spec.image,
                        disk_size_gb=spec.disk_gb,
                        disk_type=f"zones/{zone}/diskTypes/{DISK_TYPE}",
                        labels=labels,
                    ),
                )
            ],
        )
        if attached:
            body.guest_accelerators = [
                compute_v1.AcceleratorConfig(
                    accelerator_type=f"zones/{zone}/acceleratorTypes/{spec.accelerator}",
                    accelerator_count=spec.accelerator_count,
                )
            ]
        email, scopes = parse_permission_set(spec.permission_set)
        if email:
            body.service_accounts = [compute_v1.ServiceAccount(email=email, scopes=scopes)]
        return body

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        body = self.instance_body(spec, zone, spot)
        self._prepare_network()
        request = compute_v1.InsertInstanceRequest(
            project=self.project, zone=zone, instance_resource=body, request_id=str(uuid.uuid4())
        )
        action = f"create instance {spec.name} in {zone}"
        permission = (
            "compute.instances.create, compute.disks.create, compute.subnetworks.use, compute.instances.setMetadata "
            "and compute.instances.setLabels (roles/compute.instanceAdmin.v1)"
            + (", and iam.serviceAccounts.actAs on the CLOUD_PERMISSION_SET account (roles/iam.serviceAccountUser)"
               if body.service_accounts else "")
        )  # fmt: skip
        try:
            op = self._call(lambda: self._instances.insert_unary(request=request, retry=None), action)
        except gexc.Conflict:
            return self._existing(spec, zone)
        except gexc.GoogleAPICallError as exc:
            # A synchronous rejection created nothing.
            raise self._classify(exc.message or str(exc), "", exc, action, permission, zone, spot) from None
        except ProviderError:
            self._cleanup(spec, zone)  # the insert may have landed before the API stopped answering
            raise
        try:
            op = self._wait(zone, op, action)
            code, message = _op_error(op)
            if code:
                op_exc = gexc.from_http_status(op.http_error_status_code or 400, message, errors=[{"reason": code}])
                raise self._classify(message, code, op_exc, action, permission, zone, spot)
            inst = self._call(
                lambda: self._instances.get(project=self.project, zone=zone, instance=spec.name, retry=None), action
            )
        except gexc.NotFound:
            self._cleanup(spec, zone)
            raise CapacityError(f"GCP: instance {spec.name} vanished right after creation in {zone}") from None
        except BaseException:
            self._cleanup(spec, zone)  # includes KeyboardInterrupt/SystemExit from the flow's signal handler
            raise
        return self._to_instance(inst)

    def _classify(
        self, message: str, code: str, exc: gexc.GoogleAPICallError, action: str, permission: str, zone: str, spot: bool
    ) -> ProviderError:
        market = "Spot" if spot else "on-demand"
        if code in CAPACITY_CODES or any(m in message.lower() for m in CAPACITY_MESSAGES):
            return CapacityError(f"GCP has no {market} capacity in {zone} ({code or 'capacity'}): {message}")
        if NOT_OFFERED.search(message):
            return CapacityError(f"GCP: not offered in {zone}: {message}")
        if code in QUOTA_CODES:
            return ProviderError(
                f"GCP quota exceeded in {self.region} ({code}): {message}. Request more quota (IAM & Admin > "
                "Quotas) or choose a smaller CLOUD_TYPE / CLOUD_GPU or another CLOUD_REGION"
            )
        return self._explain(exc, action, permission)

    def _existing(self, spec: InstanceSpec, zone: str) -> Instance:
        """409 on insert: ours from an earlier attempt (same runner) is fine, anything else is an error."""
        try:
            inst = self._call(
                lambda: self._instances.get(project=self.project, zone=zone, instance=spec.name, retry=None),
                f"read instance {spec.name}",
            )
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, f"read instance {spec.name}", "compute.instances.get") from None
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
            inst = self._call(
                lambda: self._instances.get(project=self.project, zone=zone, instance=spec.name, retry=None),
                "check for a half-created instance",
            )
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
                project=self.project, zone=zone, instance=name, request_id=str(uuid.uuid4())
            )
            return self._call(
                lambda: self._instances.delete_unary(request=request, retry=None),
                action,
            )
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, action, "compute.instances.delete") from None

    def _finish_delete(self, zone: str, name: str, op: compute_v1.Operation) -> None:
        action = f"delete instance {name} in {zone}"
        op = self._wait(zone, op, action)
        code, message = _op_error(op)
        if code and code != "RESOURCE_NOT_FOUND":
            raise ProviderError(f"GCP failed to {action} ({code}): {message}")

    def list_ours(self, repository_tag: str | None = None, *, with_state: bool = True) -> list[Instance]:
        """One aggregated list per 500 of ours (the state comes with it: with_state changes nothing)."""
        wanted = {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE}
        if repository_tag:
            wanted[TAG_REPOSITORY] = label_value(repository_tag)
        request = compute_v1.AggregatedListInstancesRequest(
            project=self.project, filter=" ".join(f'(labels.{k} = "{v}")' for k, v in wanted.items())
        )

        def run() -> list[Instance]:
            found = []
            for scope, listed in self._instances.aggregated_list(request=request, retry=None):
                if not scope.removeprefix("zones/").startswith(self.region + "-"):
                    continue
                for inst in listed.instances:
                    labels = dict(inst.labels)
                    if all(labels.get(k) == v for k, v in wanted.items()):  # never trust the filter alone
                        found.append(self._to_instance(inst))
            return found

        try:
            return self._call(run, "list instances")
        except gexc.GoogleAPICallError as exc:
            raise self._explain(exc, "list instances", "compute.instances.list") from None

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


def from_env(region: str, env: Mapping[str, str]) -> GcpProvider:
    """The GCP provider the step's variables describe (see gcp_auth for credential precedence).

    GCP_PROJECT / GOOGLE_CLOUD_PROJECT (else the key's project), GCP_NETWORK, GCP_SUBNETWORK,
    GCP_EXTERNAL_IP=true; GCP_COMPUTE_ENDPOINT (test-only: http://127.0.0.1:PORT, anonymous).
    """
    endpoint = env.get("GCP_COMPUTE_ENDPOINT", "").strip() or None
    project = (env.get("GCP_PROJECT", "") or env.get("GOOGLE_CLOUD_PROJECT", "")).strip()
    options: dict[str, Any] = {
        "network": env.get("GCP_NETWORK", "").strip(),
        "subnetwork": env.get("GCP_SUBNETWORK", "").strip(),
        # Default true (config/runner.py parsed and validated it already): a fresh project has no Cloud NAT.
        "external_ip": env.get("GCP_EXTERNAL_IP", "").strip().lower() not in ("false", "no", "0", "off"),
    }
    if endpoint:
        return GcpProvider(region, project=project or None, endpoint=endpoint, credentials=AnonymousCredentials(),
                           credentials_source="anonymous (GCP_COMPUTE_ENDPOINT)", poll_interval_s=0.05,
                           retry_backoff_s=0.05, **options)  # fmt: skip
    found = credentials_from_env(env)
    project = project or found.project
    if not project:
        raise ProviderError(f"GCP_PROJECT is not set and {found.source} does not name a project: set GCP_PROJECT")
    return GcpProvider(region, project=project, credentials=found.credentials,
                       credentials_source=f"the credentials from {found.source}", **options)  # fmt: skip

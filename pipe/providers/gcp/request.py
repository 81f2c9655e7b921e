"""The instance insert request as plain data: labels, the service account, the startup script, the body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from google.cloud import compute_v1

from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_REPOSITORY,
    TAG_RUNNER_SCOPE,
    TAG_RUNNER_UUID,
    InstanceSpec,
    ProviderError,
)
from pipe.providers.catalog import gcp_type_has_gpu
from pipe.providers.gcp.network import NETWORK_TAG, network_path
from pipe.providers.tags import label_value

DISK_TYPE = "pd-balanced"
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


@dataclass(frozen=True)
class Network:
    """Where the instance's NIC goes, and whether it gets an external IP (GCP_NETWORK, GCP_SUBNETWORK,
    GCP_EXTERNAL_IP)."""

    region: str
    network: str  # a name or link; "default" when not given
    subnetwork: str = ""
    external_ip: bool = True


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


def instance_body(spec: InstanceSpec, zone: str, spot: bool, way: Network) -> compute_v1.Instance:
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
    if spec.stop_on_shutdown and (spot or spec.max_lifetime_s):
        # COMMAND: bake: the guest's power-off must leave the instance TERMINATED with its boot disk for the
        # image; Spot's and maxRunDuration's instanceTerminationAction DELETE would delete both.
        raise ProviderError("GCP: a bake's instance is never Spot and has no maximum run duration")
    if spec.max_lifetime_s:
        scheduling.max_run_duration = compute_v1.Duration(seconds=max(30, int(spec.max_lifetime_s)))
        scheduling.instance_termination_action = "DELETE"
    nic = compute_v1.NetworkInterface(network=network_path(way.network))
    if way.subnetwork:
        nic.subnetwork = (
            way.subnetwork if "/" in way.subnetwork else f"regions/{way.region}/subnetworks/{way.subnetwork}"
        )
    if way.external_ip:
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
                # Also a bake's: its image is made while the (TERMINATED) instance still exists, and deleting the
                # instance afterwards, or in a rollback, deletes the disk with it (baked.py).
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

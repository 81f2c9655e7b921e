"""The provider-adapter interface: what every cloud module implements.

The shared runner flow (pipe/commands/runner.py) owns ordering, zone and spot
fallback, rollback and sweeping; an adapter only speaks its cloud's SDK.
Modelled on SkyPilot's provisioner: a narrow, cloud-neutral surface with plain
dataclasses in and out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pipe.errors import PipeError

if TYPE_CHECKING:
    from pipe.bootstrap.render import BootConfig

# Tag/label keys valid on all three clouds (GCP labels: lowercase letters,
# digits, '-' and '_', values <= 63 chars), so one set of keys serves everywhere.
TAG_MANAGED_BY = "cml-managed-by"
TAG_MANAGED_BY_VALUE = "cml-runner-pipe"
TAG_RUNNER_UUID = "cml-runner-uuid"
# The repository's UUID (braces removed): collision-free, unlike a slug (issue 13). Instances of
# versions before that hold the lossy `label_value(f"{workspace}_{slug}")` here instead (legacy).
TAG_REPOSITORY = "cml-repository"
# Where the runner was registered: "repository" or "workspace"; the sweep looks the runner up there.
TAG_RUNNER_SCOPE = "cml-runner-scope"
TAG_PIPELINE = "cml-pipeline"
TAG_CREATED_AT = "cml-created-at"
TAG_EXPIRES_AT = "cml-expires-at"
# COMMAND: bake (pipe/bake/): what a resource is for ("bake" = the instance an image is made from; "baked-image"),
# which bake made it (a random UUID: its instance, image and snapshots), and the recipe hash the image holds.
TAG_ROLE = "cml-role"
ROLE_BAKE = "bake"
ROLE_BAKED_IMAGE = "baked-image"
TAG_BAKE_ID = "cml-bake-id"
TAG_RECIPE = "cml-recipe"


class ProviderError(PipeError):
    """A permanent cloud failure; the message says what to fix."""


class PermissionDenied(ProviderError):
    """The cloud refused the credentials this call (they lack a permission): the message names it."""


class CapacityError(ProviderError):
    """The cloud has no capacity for this type in this zone/market: try the next option."""


class WorkloadFailed(ProviderError):
    """The launched workload can never bring its runner up (a pod no node can take, say): stop waiting."""


@dataclass(frozen=True)
class Trouble:
    """What keeps a launched workload from coming up, as one line; fatal = it never will by itself."""

    message: str
    fatal: bool = False


@dataclass(frozen=True)
class InstanceSpec:
    """One launch attempt's inputs, already resolved to native names by the catalog."""

    name: str  # instance name, also the runner name: cml-<10 chars>
    region: str  # native region (AWS us-west-1, GCP us-west1, Azure westus2)
    instance_type: str  # native machine type / VM size
    image: str  # native image reference, resolved by Provider.resolve_image
    disk_gb: int  # root disk; already at least what the image needs where the cloud says (Provider.image_disk_gb)
    user_data: str | bytes  # the rendered startup script (holds the runner's OAuth secret); bytes = gzip
    tags: dict[str, str]  # our tags plus CLOUD_METADATA, already sanitised for the cloud
    accelerator: str = ""  # GCP accelerator type (nvidia-tesla-t4), empty if none or built into the type
    accelerator_count: int = 0
    spot_price: float | None = None  # max hourly USD for spot; None = up to on-demand
    permission_set: str = ""  # instance profile / service account / managed identity
    max_lifetime_s: int | None = None  # cloud-side hard limit where supported (GCP maxRunDuration)
    disk_explicit: bool = False  # CLOUD_HDD_SIZE was given: never grow the disk to fit the image
    stop_on_shutdown: bool = False  # COMMAND: bake: the guest's power-off stops the instance (its disk is kept)
    # The runner's identity and lifetimes, for providers that build the workload themselves (Kubernetes)
    # instead of booting user_data.
    boot: BootConfig | None = None


@dataclass(frozen=True)
class Instance:
    """A VM of ours as the cloud reports it."""

    cloud: str
    id: str  # AWS instance id, GCP instance name, Azure VM name
    name: str
    region: str
    zone: str
    instance_type: str
    spot: bool
    state: str  # pending | running | stopping | stopped | terminated (normalised); "unknown" if not read
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def runner_uuid(self) -> str:
        return self.tags.get(TAG_RUNNER_UUID, "")


class Provider(Protocol):
    """One cloud. Every method is safe to call again after a failure."""

    cloud: str
    region: str

    def zones(self, instance_type: str) -> list[str]:
        """Zones of the region to try, in order, that offer instance_type."""
        ...

    def resolve_image(self, requested: str, gpu: bool) -> str:
        """The native image to boot: requested (CLOUD_IMAGE) if given, else the default."""
        ...

    def image_disk_gb(self, image: str) -> int | None:
        """The smallest root disk the image (from resolve_image) allows, in GB; None when the cloud does not say."""
        ...

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        """Create one instance (and its per-instance resources) in zone.

        Raises CapacityError when this zone/market has no capacity, after
        removing anything this call created; ProviderError on permanent errors.
        """
        ...

    def list_ours(self, repository_tag: str | None = None, *, with_state: bool = True) -> list[Instance]:
        """Our instances that are not terminated, optionally only one repository's.

        with_state=False may leave ``state`` as "unknown" where reading it costs a call per instance
        (Azure): the launch-time sweep needs only the tags, in a number of calls that does not grow.
        """
        ...

    def terminate(self, instance: Instance) -> None:
        """Delete the instance and its per-instance resources; a missing one is not an error."""
        ...

    def terminate_many(self, instances: Sequence[Instance], *, wait: bool = True) -> None:
        """terminate() for each, in as few calls as the cloud allows (EC2: one TerminateInstances per batch).

        wait=False starts the deletions and returns without waiting for the cloud to finish them (as EC2
        always does): a launch spends one call per instance; a failure shows at the next sweep."""
        ...


@dataclass(frozen=True)
class MachineImage:
    """A machine image of ours (COMMAND: bake) as the cloud reports it."""

    cloud: str
    id: str  # AWS AMI id, GCP image path (projects/P/global/images/NAME), Azure image resource id
    name: str
    state: str  # pending | available | failed (normalised)
    tags: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class MakesImages(Protocol):
    """Optional, beside Provider: a VM cloud that can make a machine image from a stopped instance's disk
    (COMMAND: bake), and list and delete the images of ours, each with what it keeps (AWS: its snapshots)."""

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> MachineImage:
        """Start making an image of the stopped instance's root disk; the image and what it keeps carry tags."""
        ...

    def image(self, image_id: str) -> MachineImage | None:
        """The image as it is now, or None when it does not exist."""
        ...

    def images_ours(self, repository_tag: str) -> list[MachineImage]:
        """One repository's images of ours (TAG_MANAGED_BY and TAG_REPOSITORY), in any state."""
        ...

    def delete_image(self, image: MachineImage) -> None:
        """Delete the image and what it keeps (AWS: deregister, then its snapshots tagged ours for the image's
        repository); a missing one is not an error."""
        ...

    def console_output(self, instance: Instance) -> str:
        """The instance's serial console as the cloud keeps it (its most recent part: EC2 64 KB, GCE 1 MB), or ''
        when the cloud has none yet. COMMAND: bake reads the guest's success line there."""
        ...

    def delete_bake_leftovers(self, repository_tag: str, bake_id: str) -> None:
        """Delete whatever one bake (TAG_BAKE_ID) made besides its instance: images, and what a creation cut
        short left (AWS: snapshots tagged with the bake's id)."""
        ...


class ImageProvider(Provider, MakesImages, Protocol):
    """A cloud that runs instances and makes images of them: what COMMAND: bake needs."""


@runtime_checkable
class ReportsTrouble(Protocol):
    """Optional, beside Provider: a provider that can see why its workload is not up yet (Kubernetes: the
    pod's scheduling, image pulls and crashes) says so while the runner flow waits for ONLINE."""

    def trouble(self, instance: Instance) -> Trouble | None:
        """The workload's current trouble, or None while it is fine (or cannot tell)."""
        ...

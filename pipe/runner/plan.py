"""Runner settings -> a launch plan: plain data, printed as is by DRY_RUN, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE, BootConfig
from pipe.config.clouds import AwsOptions, CloudOptions, GcpOptions
from pipe.config.kubernetes import KubernetesOptions
from pipe.config.runner import DEFAULT_HDD_GB, RunnerSettings
from pipe.config.variables import ConfigError
from pipe.providers.catalog import (
    BAKES_IMAGES,
    DEFAULT_IMAGES,
    Location,
    Machine,
    check_default_gpu_image,
    kubernetes_resources,
    resolve_location,
    resolve_machine,
)
from pipe.providers.gcp.network import NETWORK_TAG, firewall_name
from pipe.providers.tags import merge_user_tags, our_tags

# The instance self-terminates at MAX_LIFETIME; the sweep waits this much longer
# before acting on expires-at, so a VM shutting itself down is not raced.
EXPIRY_GRACE_S = 10 * 60
# Added to every runner the pipe registers, so the sweep can tell ours from others'. It obeys Bitbucket's
# runner label rule (pipe/config/parsers.py RUNNER_LABEL): dot-separated lowercase parts. It reads as the old
# marker with dots, and no user is likely to pick it as a routing label (the default label is cml.runner).
MARKER_LABEL = "cml.runner.pipe"
# What runners registered before the label rule was followed carry; still ours for the sweep.
LEGACY_MARKER_LABEL = "cml-runner-pipe"
MARKER_LABELS = frozenset({MARKER_LABEL, LEGACY_MARKER_LABEL})
# The labels the pipe adds to every runner it registers (config keeps PIPE_OWN_LABELS slots for them).
PIPE_LABELS = (MARKER_LABEL,)


def is_our_runner(labels: Iterable[str]) -> bool:
    """A runner the pipe registered, by either marker label."""
    return not MARKER_LABELS.isdisjoint(labels)


@dataclass(frozen=True)
class LaunchPlan:
    cloud: str
    location: Location
    machine: Machine
    image_request: str  # CLOUD_IMAGE as given; "" = the adapter's default for CPU or GPU
    disk_gb: int  # CLOUD_HDD_SIZE, or DEFAULT_HDD_GB (then grown to the image's size: root_disk_gb)
    disk_explicit: bool  # CLOUD_HDD_SIZE given
    spot: bool
    spot_price: float | None
    labels: tuple[str, ...]  # what the runner is registered with, marker included
    name: str
    permission_set: str
    metadata: dict[str, str]
    idle_timeout_s: int | None
    max_lifetime_s: int
    single: bool
    startup_script: str
    wait_timeout_s: int
    runner_scope: str
    network: str  # how the instance reaches the internet and what can reach it (network_line)
    created_at: int
    expires_at: int
    kubernetes: KubernetesOptions | None = None  # CLOUD: kubernetes only
    spot_fallback: bool = True  # CLOUD_SPOT_FALLBACK: on-demand when no zone has spot capacity (at the price)
    image_stock: bool = False  # CLOUD_IMAGE: stock: never a baked image (pipe/bake/lookup.py)
    checkpoint: dict[str, object] | None = None  # spot recovery's agent settings, set at launch (pipe/checkpoint)

    @property
    def requested_labels(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if label not in MARKER_LABELS)

    def boot_config(
        self,
        *,
        account_uuid: str,
        repository_uuid: str,
        runner_uuid: str,
        client_id: str,
        client_secret: str,
        baked: bool = False,
    ) -> BootConfig:
        """What the startup script needs: this plan plus the registered runner's identity."""
        return BootConfig(
            cloud=self.cloud,
            account_uuid=account_uuid,
            repository_uuid="" if self.runner_scope == "workspace" else repository_uuid,
            runner_uuid=runner_uuid,
            runner_name=self.name,
            oauth_client_id=client_id,
            oauth_client_secret=client_secret,
            idle_timeout_s=self.idle_timeout_s,
            max_lifetime_s=self.max_lifetime_s,
            single=self.single,
            gpu=self.machine.has_gpu,
            user_startup_script=self.startup_script,
            baked=baked,
            checkpoint=self.checkpoint,
        )

    def root_disk_gb(self, image_gb: int | None) -> int:
        """The root disk to ask for, given what the image needs (None: the cloud does not say).

        CLOUD_HDD_SIZE below the image's size is refused (the cloud would refuse the launch); without it the
        disk is the larger of DEFAULT_HDD_GB and the image's size.
        """
        if image_gb is None or image_gb <= self.disk_gb:
            return self.disk_gb
        if self.disk_explicit:
            image = self.image_request or _default_image(self.cloud, self.machine.has_gpu).split(" (")[0]
            raise ConfigError(
                "CLOUD_HDD_SIZE", str(self.disk_gb), f"the image {image} needs at least {image_gb} GB; use at least "
                f"{image_gb}, or leave CLOUD_HDD_SIZE unset"
            )  # fmt: skip
        return image_gb

    def tags(self, *, runner_uuid: str, repository_uuid: str, pipeline: str) -> dict[str, str]:
        """Our tags for the runner's resources, beside CLOUD_METADATA's."""
        ours = our_tags(
            runner_uuid=runner_uuid,
            repository_uuid=repository_uuid,
            runner_scope=self.runner_scope,
            pipeline=pipeline,
            created_at=self.created_at,
            expires_at=self.expires_at,
        )
        return merge_user_tags(ours, self.metadata, self.cloud)

    def describe(self) -> list[str]:
        """The plan as the user reads it (DRY_RUN and the launch log)."""
        if self.kubernetes is not None:
            return self._describe_kubernetes(self.kubernetes)
        machine = self.machine
        gpu = f" with {machine.accelerator_count} x {machine.accelerator}" if machine.accelerator else ""
        price = f"~${machine.hourly_usd:.3f}/h on-demand" if machine.hourly_usd is not None else "price unknown"
        market = "spot" + (f" (max ${self.spot_price}/h)" if self.spot_price else " (up to on-demand price)")
        zones = ", ".join(self.location.zones) or "discovered at launch (zones offering the type)"
        idle = "never" if self.idle_timeout_s is None else f"{self.idle_timeout_s}s"
        return [
            f"cloud: {self.cloud}, region: {self.location.region}, zones: {zones}",
            f"instance type: {machine.instance_type}{gpu} ({price})",
            f"market: {market if self.spot else 'on-demand'}" + (self.fallback_words if self.spot else ""),
            f"image: {self._image_line()}",
            f"disk: {self.disk_gb} GB" if self.disk_explicit else
            f"disk: {self.disk_gb} GB, or the image's own size if larger (looked up at launch)",
            f"network: {self.network}",
            f"runner: {self.name}, labels: {', '.join(self.requested_labels)}",
            f"idle timeout: {idle}, max lifetime: {self.max_lifetime_s}s, single step: {self.single}",
        ]

    @property
    def fallback_words(self) -> str:
        if self.spot_fallback:
            return ", falling back to on-demand if no zone has spot capacity"
        return ", no on-demand fallback (CLOUD_SPOT_FALLBACK: none)"

    def _image_line(self) -> str:
        if self.image_request:
            return self.image_request
        stock = _default_image(self.cloud, self.machine.has_gpu)
        if self.image_stock:
            return f"{stock}, stock (CLOUD_IMAGE: stock)"
        if self.cloud not in BAKES_IMAGES:
            return stock
        return f"a baked image of ours for the current recipe if the region has one (looked up at launch), else {stock}"

    def _describe_kubernetes(self, kube: KubernetesOptions) -> list[str]:
        cpu, memory = kubernetes_resources(self.machine.instance_type)
        gpus = f" and {self.machine.accelerator_count} {self.machine.accelerator}" if self.machine.accelerator else ""
        selector = ",".join(f"{k}={v}" for k, v in kube.node_selector.items()) or "any node"
        tolerations = ",".join(
            t.key + (f"={t.value}" if t.value else "") + (f":{t.effect}" if t.effect else "") for t in kube.tolerations
        )
        idle = "never" if self.idle_timeout_s is None else f"{self.idle_timeout_s}s"
        return [
            f"cloud: kubernetes, namespace: {kube.namespace}, context: {kube.context or 'the current one'}",
            f"workload: Job {self.name} (Docker-in-Docker: {cpu} CPU, {memory} memory{gpus}, requests = limits)",
            f"placement: node selector {selector}" + (f", tolerations {tolerations}" if tolerations else ""),
            f"images: runner {DEFAULT_RUNNER_IMAGE}, Docker-in-Docker {kube.dind_image}",
            f"runner: {self.name}, labels: {', '.join(self.requested_labels)}",
            f"idle timeout: {idle}, max lifetime: {self.max_lifetime_s}s (activeDeadlineSeconds), "
            f"single step: {self.single}",
        ]


def _default_image(cloud: str, gpu: bool) -> str:
    cpu_image, gpu_image = DEFAULT_IMAGES[cloud]
    return f"{gpu_image if gpu else cpu_image} (the newest such image, looked up at launch)"


def network_line(options: CloudOptions) -> str:
    """The plan's `network:` line: the instance's way out (the runner needs outbound HTTPS to Bitbucket and the
    image registry) and what can reach it. DRY_RUN is offline: what depends on the cloud's state is named."""
    if isinstance(options, AwsOptions):
        out = (
            f"public IP only if subnet {options.subnet}'s route out is an internet gateway (else its NAT)"
            if options.subnet
            else "the default subnet of the zone; a public IP only if its route out is an internet gateway"
        )
        inbound = (
            f"what security group {options.security_group} allows"
            if options.security_group
            else "none (security group cml-runner-pipe has no inbound rule)"
        )
        return f"{out}, inbound: {inbound}"
    if isinstance(options, GcpOptions):
        network = options.network or "default"
        inbound = f"none (firewall rule {firewall_name(network)} denies all ingress to tag {NETWORK_TAG})"
        if options.external_ip:
            return f"external IP yes (ephemeral), network {network}, inbound: {inbound}"
        subnet = options.subnetwork or "its subnet"
        return f"no external IP, egress via Cloud NAT on {subnet} of network {network} (checked at launch), " + (
            f"inbound: {inbound}"
        )
    if isinstance(options, KubernetesOptions):
        return "the cluster's pod network and its egress rules, inbound: none (no Service exposes the pod)"
    if options.public_ip:
        return "public IP yes (Standard, static), inbound: none (network security group without inbound rules)"
    return "no public IP, egress via Azure's default outbound access where the region still offers it, inbound: none"


def runner_labels(user_labels: tuple[str, ...]) -> tuple[str, ...]:
    """What the runner is registered with: LABELS plus the marker, all under Bitbucket's label rule."""
    if MARKER_LABEL in user_labels:
        raise ConfigError("LABELS", ",".join(user_labels), f"{MARKER_LABEL!r} is the pipe's own marker label")
    # config kept PIPE_OWN_LABELS slots for these; test_runner_labels checks both stay under Bitbucket's rule.
    return (*user_labels, *PIPE_LABELS)


def build_plan(settings: RunnerSettings, name: str, now: int) -> LaunchPlan:
    """Raises CatalogError (one line naming the variable) for what the cloud cannot give."""
    machine = resolve_machine(settings.cloud, settings.instance_type, settings.gpu)
    check_default_gpu_image(settings.cloud, machine, settings.image, "CLOUD_GPU" if settings.gpu else "CLOUD_TYPE")
    return LaunchPlan(
        cloud=settings.cloud,
        location=resolve_location(settings.cloud, settings.region),
        machine=machine,
        image_request=settings.image,
        disk_gb=DEFAULT_HDD_GB if settings.hdd_size_gb is None else settings.hdd_size_gb,
        disk_explicit=settings.hdd_size_gb is not None,
        spot=settings.spot,
        spot_price=settings.spot_price,
        spot_fallback=settings.spot_fallback,
        labels=runner_labels(settings.labels),
        name=name,
        permission_set=settings.permission_set,
        metadata=dict(settings.metadata),
        idle_timeout_s=settings.idle_timeout_s,
        max_lifetime_s=settings.max_lifetime_s,
        single=settings.single,
        startup_script=settings.startup_script,
        wait_timeout_s=settings.wait_timeout_s,
        runner_scope=settings.runner_scope,
        network=network_line(settings.options),
        created_at=now,
        expires_at=now + settings.max_lifetime_s + EXPIRY_GRACE_S,
        kubernetes=settings.kubernetes,
        image_stock=settings.image_stock,
    )

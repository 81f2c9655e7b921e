"""Runner settings -> a launch plan: plain data, printed as is by DRY_RUN, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE, BootConfig
from pipe.config.kubernetes import KubernetesSettings
from pipe.config.runner import RunnerSettings
from pipe.providers.catalog import (
    DEFAULT_IMAGES,
    Location,
    Machine,
    kubernetes_resources,
    resolve_location,
    resolve_machine,
)
from pipe.providers.tags import merge_user_tags, our_tags

# The instance self-terminates at MAX_LIFETIME; the sweep waits this much longer
# before acting on expires-at, so a VM shutting itself down is not raced.
EXPIRY_GRACE_S = 10 * 60
# Added to every runner the pipe registers, so the sweep can tell ours from others'.
MARKER_LABEL = "cml-runner-pipe"


@dataclass(frozen=True)
class LaunchPlan:
    cloud: str
    location: Location
    machine: Machine
    image_request: str  # CLOUD_IMAGE as given; "" = the adapter's default for CPU or GPU
    disk_gb: int
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
    created_at: int
    expires_at: int
    kubernetes: KubernetesSettings | None = None  # CLOUD: kubernetes only

    @property
    def requested_labels(self) -> tuple[str, ...]:
        return tuple(label for label in self.labels if label != MARKER_LABEL)

    def boot_config(
        self, *, account_uuid: str, repository_uuid: str, runner_uuid: str, client_id: str, client_secret: str
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
        )

    def tags(self, *, runner_uuid: str, workspace: str, repo_slug: str, pipeline: str) -> dict[str, str]:
        """Our tags for the runner's resources, beside CLOUD_METADATA's."""
        ours = our_tags(
            runner_uuid=runner_uuid,
            workspace=workspace,
            repo_slug=repo_slug,
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
            f"market: {market if self.spot else 'on-demand'}" + (", falling back to on-demand" if self.spot else ""),
            f"image: {self.image_request or _default_image(self.cloud, machine.has_gpu)}",
            f"disk: {self.disk_gb} GB",
            f"runner: {self.name}, labels: {', '.join(self.requested_labels)}",
            f"idle timeout: {idle}, max lifetime: {self.max_lifetime_s}s, single step: {self.single}",
        ]

    def _describe_kubernetes(self, kube: KubernetesSettings) -> list[str]:
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


def build_plan(settings: RunnerSettings, name: str, now: int) -> LaunchPlan:
    """Raises CatalogError (one line naming the variable) for what the cloud cannot give."""
    return LaunchPlan(
        cloud=settings.cloud,
        location=resolve_location(settings.cloud, settings.region),
        machine=resolve_machine(settings.cloud, settings.instance_type, settings.gpu),
        image_request=settings.image,
        disk_gb=settings.hdd_size_gb,
        spot=settings.spot,
        spot_price=settings.spot_price,
        labels=(*settings.labels, MARKER_LABEL),
        name=name,
        permission_set=settings.permission_set,
        metadata=dict(settings.metadata),
        idle_timeout_s=settings.idle_timeout_s,
        max_lifetime_s=settings.max_lifetime_s,
        single=settings.single,
        startup_script=settings.startup_script,
        wait_timeout_s=settings.wait_timeout_s,
        runner_scope=settings.runner_scope,
        created_at=now,
        expires_at=now + settings.max_lifetime_s + EXPIRY_GRACE_S,
        kubernetes=settings.kubernetes,
    )

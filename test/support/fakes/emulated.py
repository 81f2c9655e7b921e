"""One interface over the emulated clouds, used by the contract suite (contract_clouds.py), the demo
(demo/clouds.py), the benchmarks (bench/servers.py) and the VM proving ground's hypervisor (vm/hypervisor.py).

One class per cloud implements it: FakeAws (fakes/aws.py: moto, and the fault proxy in front of it),
FakeGcp (fakes/gcp/), FakeAzure (fakes/azure/), FakeKubernetes (fakes/kubernetes/). Each is read from the
emulator's own state or through the cloud's API, never through the pipe's adapters.

    cloud.start() ... cloud.stop()
    cloud.cloud_env()           CLOUD and the variables that point a pipe run at this cloud
    cloud.live_instances()      every live instance as the cloud reports it, ours or not (Instance)
    cloud.our_instances()       those the pipe manages (its managed-by tag or label)
    cloud.boot_payloads()       instance id -> the bytes its guest receives, for ours running now
    cloud.no_capacity(...)      from now on every launch (or every spot launch) fails for lack of capacity
    cloud.power_off(id)         the guest powered itself off: end the instance as the cloud would
    cloud.request_count()       API requests served so far (None where nothing counts them)

A cloud whose images can be made from an instance's disk (COMMAND: bake) also implements MakesDiskImages:
    cloud.images_made_from(ids) image id -> the instance of ids it was made from (AWS: CreateImage)
    cloud.launched_from(ids)    instance id -> the image each was launched from
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE
from pipe.providers.catalog import resolve_location


@dataclass(frozen=True)
class Instance:
    """One instance as the cloud reports it (Azure: one runner's resource group; Kubernetes: one Job)."""

    id: str
    name: str
    instance_type: str
    tags: dict[str, str] = field(default_factory=dict)
    spot: bool = False
    disk_gb: int = 0  # the root disk as the cloud reports it
    zone: str = ""
    status: str = ""

    @property
    def ours(self) -> bool:
        return is_ours(self.tags)


def is_ours(tags: dict[str, str]) -> bool:
    """The pipe's managed-by tag (AWS, Azure) or label (GCP, Kubernetes)."""
    return tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE


def zones_of(cloud: str, region: str = "us-west") -> tuple[str, ...]:
    """The native zones the generic CLOUD_REGION maps to (the pipe's own catalog)."""
    return resolve_location(cloud, region).zones


class EmulatedCloud(Protocol):
    name: str

    def start(self) -> object: ...

    def stop(self) -> None: ...

    def cloud_env(self) -> dict[str, str]: ...

    def live_instances(self) -> list[Instance]: ...

    def our_instances(self) -> list[Instance]: ...

    def boot_payloads(self) -> dict[str, bytes]: ...

    def no_capacity(self, *, spot_only: bool = False) -> None: ...

    def power_off(self, instance_id: str) -> None: ...

    def request_count(self) -> int | None: ...


@runtime_checkable
class MakesDiskImages(Protocol):
    """The hypervisor (vm/hypervisor.py) copies a stopped VM's disk when the cloud makes an image of its
    instance, and boots instances launched from that image from the copy."""

    def images_made_from(self, instance_ids: Collection[str]) -> dict[str, str]: ...

    def launched_from(self, instance_ids: Collection[str]) -> dict[str, str]: ...


class OursFromLive:
    """our_instances() for every cloud: the live instances that carry the pipe's tag."""

    def live_instances(self) -> list[Instance]:
        raise NotImplementedError

    def our_instances(self) -> list[Instance]:
        return [i for i in self.live_instances() if i.ours]

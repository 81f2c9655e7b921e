"""The cross-cloud contract suite's view of each emulated cloud (test_contract_clouds.py): the one emulated-cloud
interface (fakes/emulated.py: FakeAws, FakeGcp, FakeAzure, FakeKubernetes) plus what a contract test needs
beside it:
  (a) the pipe's variables for the cloud (`env`) and the native region CLOUD_REGION=us-west maps to (`region`),
  (b) every live instance as the cloud reports it (`instances`; `ours` keeps the pipe's),
  (c) each instance's boot script for the VM stand-in (`user_data`: the fake's boot_payloads),
  (d) capacity errors in every zone, or for spot only (`no_capacity`),
  (e) instances seeded directly in the cloud (`seed`), ours or someone else's,
  and the API calls the cloud served (`calls`).

Everything is read from the emulators' own state or through the cloud's API, never through
the pipe's adapters, except where an emulator has no way to seed a VM (Azure, see AzureCloud.seed).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fakes.aws import FakeAws
from fakes.emulated import EmulatedCloud, Instance, zones_of

from pipe.providers.base import InstanceSpec

if TYPE_CHECKING:
    from fakes.azure import FakeAzure
    from fakes.gcp import FakeGcp
    from fakes.kubernetes import FakeKubernetes

    from pipe.providers.azure.lifecycle import AzureProvider

CLOUDS = ("aws", "gcp", "azure", "kubernetes")
# The VM clouds: zones, spot markets, boot scripts and disks (Kubernetes refuses those options).
VM_CLOUDS = ("aws", "gcp", "azure")
# CLOUD_TYPE=m on each cloud, from the catalog (issue 4's table; Kubernetes: the Docker-in-Docker container's size).
NATIVE_M = {"aws": "m5.2xlarge", "gcp": "e2-standard-8", "azure": "Standard_F8s_v2", "kubernetes": "7cpu-22Gi"}



class CloudUnderTest(Protocol):
    name: str
    env: dict[str, str]
    region: str  # the native region the generic CLOUD_REGION=us-west maps to

    def instances(self) -> list[Instance]:
        """Every live instance in the emulated cloud, ours or not."""
        ...

    def user_data(self) -> dict[str, str | bytes]:
        """Instance id -> the boot script the cloud holds for it, for our live instances."""
        ...

    def no_capacity(self, *, spot_only: bool = False) -> None:
        """From now on, every launch (or every spot launch) fails for lack of capacity, in every zone."""
        ...

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        """Create an instance directly in the cloud, with these tags only; returns its id as Instance.id."""
        ...

    def calls(self) -> int | None:
        """API requests the emulated cloud has served so far; None where the emulator keeps no log."""
        ...


def ours(cloud: CloudUnderTest) -> list[Instance]:
    return [i for i in cloud.instances() if i.ours]


class _OnFake:
    """The contract's reads and faults, straight from the fake's emulated-cloud interface."""

    fake: EmulatedCloud

    def instances(self) -> list[Instance]:
        return self.fake.live_instances()

    def user_data(self) -> dict[str, str | bytes]:
        return dict(self.fake.boot_payloads())

    def no_capacity(self, *, spot_only: bool = False) -> None:
        self.fake.no_capacity(spot_only=spot_only)

    def calls(self) -> int | None:
        return self.fake.request_count()


@dataclass
class AwsCloud(_OnFake):
    """moto_server behind the fault proxy (FakeAws: every EC2 request the pipe sends passes the proxy)."""

    fake: FakeAws
    env: dict[str, str]
    name: str = "aws"
    region: str = "us-west-1"

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        return self.fake.seed(name, dict(tags))


@dataclass
class GcpCloud(_OnFake):
    """The local Compute Engine (test/support/fakes/gcp/)."""

    fake: FakeGcp
    env: dict[str, str]
    name: str = "gcp"
    region: str = "us-west1"

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        self.fake.add_instance(zones_of("gcp")[0], name, labels=dict(tags), machine_type="e2-small")
        return name


@dataclass
class AzureCloud(_OnFake):
    """The local Azure Resource Manager (test/support/fakes/azure/); one runner = one resource group."""

    fake: FakeAzure
    provider: AzureProvider  # only to seed VMs: the fake has no direct way to create one
    env: dict[str, str]
    name: str = "azure"
    region: str = "westus2"

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        spec = InstanceSpec(
            name=name,
            region=self.region,
            instance_type="Standard_B2s",
            image="Canonical:ubuntu-24_04-lts:server:latest",
            disk_gb=30,
            user_data="#!/bin/bash\ntrue\n",
            tags=dict(tags),
        )
        return self.provider.launch(spec, "", spot=False).id


@dataclass
class KubernetesCloud(_OnFake):
    """The local Kubernetes API (test/support/fakes/kubernetes/); one runner = one Job (with its pod and Secret)."""

    fake: FakeKubernetes
    env: dict[str, str]
    name: str = "kubernetes"
    region: str = "default"  # the namespace

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        from kubernetes import client, config

        api = config.new_client_from_config_dict(self.fake.kubeconfig())
        body = {
            "metadata": {"name": name, "labels": dict(tags)},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "busybox:1"}]}}},
        }  # fmt: skip
        client.BatchV1Api(api).create_namespaced_job(self.region, body)
        return name


# ---------------------------------------------------------------------------------------------


@dataclass
class CallCounter:
    """A loopback listener that counts connections and closes each at once: an endpoint for runs that must
    make no call at all (a call made anyway fails fast instead of reaching a real or emulated cloud)."""

    connections: int = 0
    _sock: socket.socket = field(default_factory=socket.socket)
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def start(self) -> CallCounter:
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def stop(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._sock.close()

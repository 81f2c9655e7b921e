"""The emulated clouds the demo starts, through the one emulated-cloud interface (test/support/fakes/emulated.py):
FakeAws (moto's EC2), FakeGcp (the local Compute Engine), FakeAzure (the local Azure) and FakeKubernetes.

Each gives the pipe's variables that point runner mode at it, the boot payloads of our new instances (for
the VM stand-in or the hypervisor to boot; none on Kubernetes, where the pod stand-in plays the runner
container), our instances as the cloud describes them, and its whole state for --state-out.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fakes.emulated import EmulatedCloud, Instance

from pipe.providers.catalog import resolve_location

if TYPE_CHECKING:
    from fakes.aws import FakeAws
    from fakes.azure import FakeAzure
    from fakes.gcp import FakeGcp
    from fakes.kubernetes import FakeKubernetes

CLOUD_NAMES = ("aws", "gcp", "azure", "kubernetes")
VM_CLOUD_NAMES = ("aws", "gcp", "azure")
# Variables of the example's runner step that a cluster has no use for (the pipe refuses them there).
VM_ONLY_VARIABLES = ("CLOUD_REGION", "CLOUD_SPOT", "CLOUD_IMAGE", "CLOUD_HDD_SIZE", "CLOUD_STARTUP_SCRIPT")


@dataclass
class LocalCloud:
    """One emulated cloud, what is running for the output, and its state as JSON."""

    fake: EmulatedCloud
    title: str
    state: Callable[[], dict[str, Any]]

    @property
    def name(self) -> str:
        return self.fake.name

    def env(self) -> dict[str, str]:
        return self.fake.cloud_env()

    def user_data(self) -> dict[str, bytes]:
        return self.fake.boot_payloads()

    def instances(self) -> list[Instance]:
        return self.fake.our_instances()

    def stop(self) -> None:
        self.fake.stop()


def _aws(region: str) -> LocalCloud:
    from fakes.aws import ENDED_STATES, LIVE_STATES, FakeAws

    native = resolve_location("aws", region).region
    # moto_server is a child process: keep a Ctrl-C in the terminal for the demo, which stops it in order.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        fake = FakeAws.start_local(native)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    fake.listed_states = LIVE_STATES + ENDED_STATES  # the read-back shows a terminated instance too
    return LocalCloud(fake, f"moto_server (EC2, {native}) at {fake.url}", lambda: _aws_state(fake))


def _aws_state(fake: FakeAws) -> dict[str, Any]:
    pages = fake.ec2.get_paginator("describe_instances").paginate()
    instances = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
    return {"region": fake.region, "instances": instances}


def _gcp(region: str) -> LocalCloud:
    from fakes.gcp import FakeGcp

    fake: FakeGcp = FakeGcp().start()
    title = f"local Compute Engine (project {fake.project}) at {fake.url}"
    return LocalCloud(fake, title, lambda: {"project": fake.project, "instances": fake.instances()})


def _azure(region: str) -> LocalCloud:
    from fakes.azure import FakeAzure

    fake: FakeAzure = FakeAzure().start()
    fake.retry_after = None  # no Retry-After: the SDK polls long-running operations at once
    title = f"local Azure Resource Manager and Entra ID at {fake.url}"
    return LocalCloud(fake, title, lambda: _azure_state(fake))


def _azure_state(fake: FakeAzure) -> dict[str, Any]:
    groups = {
        group: {
            "tags": fake.group_tags(group),
            "resources": [fake.resource(group, type_, name) for type_, name in fake.resources(group)],
        }
        for group in fake.groups()
    }
    return {"subscription": fake.subscription_id, "resource_groups": groups}


def _kubernetes(region: str) -> LocalCloud:
    from fakes.kubernetes import FakeKubernetes

    fake: FakeKubernetes = FakeKubernetes().start()
    title = f"local Kubernetes API (HTTPS, its own CA, a bearer token) at {fake.url}"
    return LocalCloud(fake, title, lambda: _kubernetes_state(fake))


def _kubernetes_state(fake: FakeKubernetes) -> dict[str, Any]:
    secrets = [{"metadata": s["metadata"], "keys": sorted(s.get("data") or {})} for s in fake.objects("secrets")]
    return {"jobs": fake.objects("jobs"), "pods": fake.objects("pods"), "secrets": secrets}


def start_cloud(name: str, region: str) -> LocalCloud:
    starters = {"aws": _aws, "gcp": _gcp, "azure": _azure, "kubernetes": _kubernetes}
    if name not in starters:
        raise ValueError(f"unknown cloud {name!r}; use one of {', '.join(CLOUD_NAMES)}")
    return starters[name](region)

"""One interface over the three emulated clouds, for the cross-cloud contract suite (test_contract_clouds.py).

For each cloud a `CloudUnderTest` says how to:
  (a) point a pipe run at the emulated cloud (`env`),
  (b) list the live instances as the cloud itself reports them (`instances`, `ours`),
  (c) read each instance's boot script for the VM stand-in (`user_data`),
  (d) inject capacity errors in every zone, or for spot only (`no_capacity`),
  (e) seed instances directly in the cloud (`seed`), ours or someone else's,
  and count the API calls the cloud served (`calls`).

Everything is read from the emulators' own state or through the cloud's API, never through
the pipe's adapters, except where an emulator has no way to seed a VM (Azure, see AzureCloud.seed).
"""

from __future__ import annotations

import base64
import gzip
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fakes.aws_faults import Fault, FaultProxy
from fakes.moto import UBUNTU_AMI

from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, InstanceSpec
from pipe.providers.catalog import resolve_location

if TYPE_CHECKING:
    from fakes.azure import AzureFake
    from fakes.gcp import FakeGcp
    from fakes.kubernetes import FakeKubernetes

    from pipe.providers.azure.lifecycle import AzureProvider

CLOUDS = ("aws", "gcp", "azure", "kubernetes")
# The VM clouds: zones, spot markets, boot scripts and disks (Kubernetes refuses those options).
VM_CLOUDS = ("aws", "gcp", "azure")
# CLOUD_TYPE=m on each cloud, from the catalog (issue 4's table; Kubernetes: the Docker-in-Docker container's size).
NATIVE_M = {"aws": "m5.2xlarge", "gcp": "e2-standard-8", "azure": "Standard_F8s_v2", "kubernetes": "7cpu-28Gi"}


@dataclass(frozen=True)
class Live:
    """One instance as the cloud reports it (Azure: one runner's resource group)."""

    id: str
    name: str
    instance_type: str
    tags: dict[str, str]
    spot: bool = False
    disk_gb: int = 0  # the root disk as the cloud reports it

    @property
    def ours(self) -> bool:
        return self.tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE


class CloudUnderTest(Protocol):
    name: str
    env: dict[str, str]
    region: str  # the native region the generic CLOUD_REGION=us-west maps to

    def instances(self) -> list[Live]:
        """Every live instance in the emulated cloud, ours or not."""
        ...

    def user_data(self) -> dict[str, str | bytes]:
        """Instance id -> the boot script the cloud holds for it, for our live instances."""
        ...

    def no_capacity(self, *, spot_only: bool = False) -> None:
        """From now on, every launch (or every spot launch) fails for lack of capacity, in every zone."""
        ...

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        """Create an instance directly in the cloud, with these tags only; returns its id as Live.id."""
        ...

    def calls(self) -> int | None:
        """API requests the emulated cloud has served so far; None where the emulator keeps no log."""
        ...


def ours(cloud: CloudUnderTest) -> list[Live]:
    return [i for i in cloud.instances() if i.ours]


def zones_of(cloud: str) -> tuple[str, ...]:
    return resolve_location(cloud, "us-west").zones


# ---------------------------------------------------------------------------------------------
# AWS: moto_server behind the fault proxy


@dataclass
class AwsCloud:
    ec2: Any
    faults: FaultProxy
    env: dict[str, str]
    name: str = "aws"
    region: str = "us-west-1"

    def _raw(self) -> list[dict[str, Any]]:
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        )
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def instances(self) -> list[Live]:
        found = []
        for raw in self._raw():
            tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
            volumes = [m["Ebs"]["VolumeId"] for m in raw.get("BlockDeviceMappings", [])[:1]]
            disk = self.ec2.describe_volumes(VolumeIds=volumes)["Volumes"][0]["Size"] if volumes else 0
            found.append(
                Live(
                    raw["InstanceId"],
                    tags.get("Name", ""),
                    raw["InstanceType"],
                    tags,
                    spot=raw.get("InstanceLifecycle") == "spot",
                    disk_gb=int(disk),
                )
            )
        return found

    def user_data(self) -> dict[str, str | bytes]:
        found: dict[str, str | bytes] = {}
        for live in ours(self):
            value = self.ec2.describe_instance_attribute(InstanceId=live.id, Attribute="userData")
            found[live.id] = base64.b64decode(value["UserData"]["Value"])
        return found

    def no_capacity(self, *, spot_only: bool = False) -> None:
        self.faults.faults.append(Fault("RunInstances", spot=True if spot_only else None))

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        answer = self.ec2.run_instances(
            ImageId=UBUNTU_AMI,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()],
                }
            ],
        )
        return str(answer["Instances"][0]["InstanceId"])

    def calls(self) -> int | None:
        return len(self.faults.requests)  # every EC2 request the pipe sends passes the fault proxy


# ---------------------------------------------------------------------------------------------
# GCP: the local Compute Engine (test/support/fakes/gcp.py)


@dataclass
class GcpCloud:
    fake: FakeGcp
    env: dict[str, str]
    name: str = "gcp"
    region: str = "us-west1"

    def instances(self) -> list[Live]:
        found = []
        for raw in self.fake.instances():
            scheduling = raw.get("scheduling", {})
            found.append(
                Live(
                    raw["name"],
                    raw["name"],
                    raw["machineType"].rsplit("/", 1)[-1],
                    dict(raw.get("labels", {})),
                    spot=scheduling.get("provisioningModel") == "SPOT",
                    disk_gb=int((raw.get("disks") or [{}])[0].get("diskSizeGb", 0)),
                )
            )
        return found

    def user_data(self) -> dict[str, str | bytes]:
        found: dict[str, str | bytes] = {}
        for raw in self.fake.instances():
            if raw.get("labels", {}).get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE:
                continue
            if not self.fake.has_egress(raw["zone"].rsplit("/", 1)[-1], raw["name"]):
                continue  # no external IP and no Cloud NAT: this VM could never reach Bitbucket
            items = {i["key"]: i.get("value", "") for i in raw.get("metadata", {}).get("items", [])}
            if "startup-script" in items:
                found[raw["name"]] = items["startup-script"]
        return found

    def no_capacity(self, *, spot_only: bool = False) -> None:
        for zone in zones_of("gcp"):
            self.fake.capacity(zone, spot=True if spot_only else None)

    def seed(self, name: str, tags: Mapping[str, str]) -> str:
        self.fake.add_instance(zones_of("gcp")[0], name, labels=dict(tags), machine_type="e2-small")
        return name

    def calls(self) -> int | None:
        return len(self.fake.requests)


# ---------------------------------------------------------------------------------------------
# Azure: the local Azure Resource Manager (test/support/fakes/azure.py); one runner = one resource group

VM_TYPE = "Microsoft.Compute/virtualMachines"


@dataclass
class AzureCloud:
    fake: AzureFake
    provider: AzureProvider  # only to seed VMs: the fake has no direct way to create one
    env: dict[str, str]
    name: str = "azure"
    region: str = "westus2"

    def instances(self) -> list[Live]:
        found = []
        for group in self.fake.groups():
            tags = self.fake.group_tags(group)
            vms = [name for kind, name in self.fake.resources(group) if kind == VM_TYPE]
            if not vms:  # a group holding only a NIC or IP still bills: it counts as a leftover
                found.append(Live(group, group, "", tags))
            for vm in vms:
                doc = self.fake.resource(group, VM_TYPE, vm)
                props = doc["properties"]
                found.append(
                    Live(
                        group,
                        vm,
                        props["hardwareProfile"]["vmSize"],
                        {**tags, **doc.get("tags", {})},
                        spot=props.get("priority", "Regular").lower() == "spot",
                        disk_gb=int(props.get("storageProfile", {}).get("osDisk", {}).get("diskSizeGB") or 0),
                    )
                )
        return found

    def user_data(self) -> dict[str, str | bytes]:
        found: dict[str, str | bytes] = {}
        for live in ours(self):
            if live.instance_type:
                found[live.id] = _gunzip(base64.b64decode(self.fake.custom_data(live.id, live.name)))
        return found

    def no_capacity(self, *, spot_only: bool = False) -> None:
        # Azure has no zone list to walk (the adapter asks for a regional VM): "every zone" is the region.
        self.fake.fail_vm_create("AllocationFailed", times=100, spot=True if spot_only else None)

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

    def calls(self) -> int | None:
        return len(self.fake.requests)


# ---------------------------------------------------------------------------------------------
# Kubernetes: the local Kubernetes API (test/support/fakes/kubernetes); one runner = one Job (with its pod and Secret)


@dataclass
class KubernetesCloud:
    fake: FakeKubernetes
    env: dict[str, str]
    name: str = "kubernetes"
    region: str = "default"  # the namespace

    def instances(self) -> list[Live]:
        found = []
        for job in self.fake.objects("jobs"):
            sidecars = job["spec"]["template"]["spec"].get("initContainers") or []
            limits = next((c["resources"].get("limits", {}) for c in sidecars if c["name"] == "docker"), {})
            size = f"{limits['cpu']}cpu-{limits['memory']}" if limits else ""
            found.append(
                Live(job["metadata"]["name"], job["metadata"]["name"], size, dict(job["metadata"]["labels"] or {}))
            )
        return found

    def user_data(self) -> dict[str, str | bytes]:
        return {}  # no boot script: the pod stand-in (test/support/pod_standin.py) plays the runner container

    def no_capacity(self, *, spot_only: bool = False) -> None:
        raise NotImplementedError("a cluster has no zones or spot market: see VM_CLOUDS")

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

    def calls(self) -> int | None:
        return len(self.fake.requests)


def _gunzip(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


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

"""The emulated clouds the demo starts: moto for AWS, the local Compute Engine, the local Azure and the
local Kubernetes.

Each gives the pipe's variables that point runner mode at it, the startup scripts of our new
instances (for the VM stand-in to boot; none on Kubernetes, where the pod stand-in plays the runner
container) and a view of our instances as the cloud describes them.
"""

from __future__ import annotations

import base64
import shutil
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE
from pipe.providers.catalog import resolve_location

CLOUD_NAMES = ("aws", "gcp", "azure", "kubernetes")
# Variables of the example's runner step that a cluster has no use for (the pipe refuses them there).
VM_ONLY_VARIABLES = ("CLOUD_REGION", "CLOUD_SPOT", "CLOUD_IMAGE", "CLOUD_HDD_SIZE", "CLOUD_STARTUP_SCRIPT")
# Dummy keys: the local servers accept anything well-formed, and nothing leaves 127.0.0.1.
AWS_KEY_ID = "AKIADEMOLOCALONLY001"
AWS_SECRET = "demo-local-aws-secret-not-real"  # noqa: S105 - not a secret: moto takes any key


@dataclass
class InstanceView:
    """One instance of ours as the emulated cloud describes it."""

    id: str
    type: str
    zone: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)


class LocalCloud(Protocol):
    name: str
    title: str  # what is running, for the output

    def env(self) -> dict[str, str]: ...  # CLOUD and the variables that reach the local server
    def user_data(self) -> Mapping[str, str | bytes]: ...  # instance id -> startup script
    def instances(self) -> list[InstanceView]: ...
    def state(self) -> dict[str, Any]: ...  # JSON-able
    def stop(self) -> None: ...


class LocalAws:
    name = "aws"

    def __init__(self, region: str) -> None:
        import boto3
        from botocore.config import Config
        from fakes.moto import MotoServer

        self.region = resolve_location("aws", region).region
        # moto_server is a child process: keep a Ctrl-C in the terminal for the demo, which stops it in order.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.server = MotoServer()
            self.server.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        self.title = f"moto_server (EC2, {self.region}) at {self.server.url}"
        self.ec2 = boto3.client(
            "ec2",
            region_name=self.region,
            endpoint_url=self.server.url,
            aws_access_key_id=AWS_KEY_ID,
            aws_secret_access_key=AWS_SECRET,
            config=Config(retries={"max_attempts": 1}),
        )

    def env(self) -> dict[str, str]:
        return {
            "CLOUD": "aws",
            "AWS_ENDPOINT_URL": self.server.url,
            "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_DEFAULT_REGION": self.region,
        }

    def _ours(self, states: tuple[str, ...]) -> list[dict[str, Any]]:
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [TAG_MANAGED_BY_VALUE]},
                {"Name": "instance-state-name", "Values": list(states)},
            ]
        )
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def user_data(self) -> dict[str, str | bytes]:
        found: dict[str, str | bytes] = {}
        for raw in self._ours(("pending", "running")):
            value = self.ec2.describe_instance_attribute(InstanceId=raw["InstanceId"], Attribute="userData")
            found[raw["InstanceId"]] = base64.b64decode(value["UserData"].get("Value", ""))
        return found

    def instances(self) -> list[InstanceView]:
        return [
            InstanceView(
                raw["InstanceId"],
                raw["InstanceType"],
                raw["Placement"]["AvailabilityZone"],
                raw["State"]["Name"],
                {t["Key"]: t["Value"] for t in raw.get("Tags", [])},
            )
            for raw in self._ours(("pending", "running", "stopping", "stopped", "shutting-down", "terminated"))
        ]

    def state(self) -> dict[str, Any]:
        pages = self.ec2.get_paginator("describe_instances").paginate()
        raw = [i for page in pages for r in page["Reservations"] for i in r["Instances"]]
        return {"region": self.region, "instances": raw}

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.server._dir, ignore_errors=True)  # the AMI list MotoServer wrote for moto_server


class LocalGcp:
    name = "gcp"

    def __init__(self, region: str) -> None:
        from fakes.gcp import FakeGcp

        self.server = FakeGcp().start()
        self.title = f"local Compute Engine (project {self.server.project}) at {self.server.url}"

    def env(self) -> dict[str, str]:
        return {"CLOUD": "gcp", "GCP_COMPUTE_ENDPOINT": self.server.url, "GCP_PROJECT": self.server.project}

    def _ours(self) -> list[dict[str, Any]]:
        return [
            i for i in self.server.instances() if (i.get("labels") or {}).get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE
        ]

    def user_data(self) -> dict[str, str | bytes]:
        found: dict[str, str | bytes] = {}
        for inst in self._ours():
            if inst.get("status") not in ("PROVISIONING", "STAGING", "RUNNING"):
                continue
            if not self.server.has_egress(str(inst["zone"]).rsplit("/", 1)[-1], str(inst["name"])):
                continue  # no external IP and no Cloud NAT: this VM could never reach Bitbucket
            items = {m["key"]: m.get("value", "") for m in (inst.get("metadata") or {}).get("items", [])}
            if "startup-script" in items:
                found[str(inst["name"])] = str(items["startup-script"])
        return found

    def instances(self) -> list[InstanceView]:
        return [
            InstanceView(
                str(i["name"]),
                str(i.get("machineType", "")).rsplit("/", 1)[-1],
                str(i.get("zone", "")).rsplit("/", 1)[-1],
                str(i.get("status", "")),
                dict(i.get("labels") or {}),
            )
            for i in self._ours()
        ]

    def state(self) -> dict[str, Any]:
        return {"project": self.server.project, "instances": self.server.instances()}

    def stop(self) -> None:
        self.server.stop()


class LocalAzure:
    name = "azure"
    VM_TYPE = "Microsoft.Compute/virtualMachines"

    def __init__(self, region: str) -> None:
        from fakes.azure import AzureFake

        self.server = AzureFake().start()
        self.server.retry_after = None  # no Retry-After: the SDK polls long-running operations at once
        self._scripts: dict[str, str] = {}
        self._lock = threading.Lock()
        self.server.on_vm_created = self._created
        self.title = f"local Azure Resource Manager and Entra ID at {self.server.url}"

    def _created(self, group: str, vm: str, script: str) -> None:
        with self._lock:
            self._scripts[group] = script

    def env(self) -> dict[str, str]:
        return {"CLOUD": "azure", **self.server.env()}

    def user_data(self) -> dict[str, str | bytes]:
        with self._lock:
            return dict(self._scripts)

    def _groups(self) -> list[tuple[str, dict[str, str]]]:
        out = []
        for group in self.server.groups():
            tags = self.server.group_tags(group)
            if tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE:
                out.append((group, tags))
        return out

    def instances(self) -> list[InstanceView]:
        views = []
        for group, tags in self._groups():
            for type_, name in self.server.resources(group):
                if type_.lower() != self.VM_TYPE.lower():
                    continue
                vm = self.server.resource(group, type_, name)
                props = vm.get("properties", {})
                views.append(
                    InstanceView(
                        group,  # the pipe's instance id on Azure is the resource group it owns
                        str(props.get("hardwareProfile", {}).get("vmSize", "")),
                        ",".join(vm.get("zones") or []) or str(vm.get("location", "")),
                        str(props.get("provisioningState", "")),
                        dict(vm.get("tags") or tags),
                    )
                )
        return views

    def state(self) -> dict[str, Any]:
        groups = {}
        for group in self.server.groups():
            groups[group] = {
                "tags": self.server.group_tags(group),
                "resources": [self.server.resource(group, type_, name) for type_, name in self.server.resources(group)],
            }
        return {"subscription": self.server.subscription_id, "resource_groups": groups}

    def stop(self) -> None:
        self.server.stop()


class LocalKubernetes:
    name = "kubernetes"

    def __init__(self, region: str) -> None:
        from fakes.kubernetes import FakeKubernetes

        self.server = FakeKubernetes().start()
        self.title = f"local Kubernetes API (HTTPS, its own CA, a bearer token) at {self.server.url}"

    def env(self) -> dict[str, str]:
        return self.server.env()

    def user_data(self) -> dict[str, str | bytes]:
        return {}

    def instances(self) -> list[InstanceView]:
        views = []
        pods = self.server.objects("pods")
        for job in self.server.objects("jobs"):
            labels = dict(job["metadata"].get("labels") or {})
            if labels.get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE:
                continue
            docker = next(c for c in job["spec"]["template"]["spec"]["initContainers"] if c["name"] == "docker")
            limits = docker["resources"]["limits"]
            mine = [
                p
                for p in pods
                if p["metadata"]["labels"].get("batch.kubernetes.io/job-name") == job["metadata"]["name"]
            ]
            phase = mine[0]["status"].get("phase", "") if mine else "no pod"
            where = f"{job['metadata']['namespace']} on {mine[0]['spec'].get('nodeName')}" if mine else "-"
            views.append(
                InstanceView(job["metadata"]["name"], f"{limits['cpu']}cpu-{limits['memory']}", where, phase, labels)
            )
        return views

    def state(self) -> dict[str, Any]:
        secrets = [
            {"metadata": s["metadata"], "keys": sorted(s.get("data") or {})} for s in self.server.objects("secrets")
        ]
        return {"jobs": self.server.objects("jobs"), "pods": self.server.objects("pods"), "secrets": secrets}

    def stop(self) -> None:
        self.server.stop()


def start_cloud(name: str, region: str) -> LocalCloud:
    if name == "aws":
        return LocalAws(region)
    if name == "gcp":
        return LocalGcp(region)
    if name == "azure":
        return LocalAzure(region)
    if name == "kubernetes":
        return LocalKubernetes(region)
    raise ValueError(f"unknown cloud {name!r}; use one of {', '.join(CLOUD_NAMES)}")

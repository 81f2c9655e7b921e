"""What the local hypervisor needs from each emulated cloud: our running instances with the user-data the
pipe gave them (as bytes, exactly as the guest would receive it), and how the cloud ends an instance
whose guest powered itself off.

- AWS (moto): UserData is base64 on the wire; decoded, it is the pipe's bytes (gzip or text: cloud-init
  undoes gzip). Power-off follows the instance's InstanceInitiatedShutdownBehavior (the pipe sets
  `terminate`; `stop` would leave it stopped).
- GCP (test/support/fakes/gcp.py): the `startup-script` metadata value; an instance with no way out (no external IP,
  no Cloud NAT: the local GCP's has_egress) is not booted, as its runner could never reach Bitbucket.
  Power-off leaves the instance TERMINATED, GCP's status for a stopped instance
  (cloud.google.com/compute/docs/instances/instance-life-cycle).
- Azure (test/support/fakes/azure.py): custom data is base64 of the pipe's bytes. Power-off from inside the guest
  leaves the VM "stopped" (still allocated and billed; learn.microsoft.com/azure/virtual-machines/states-billing).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Protocol

from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE

if TYPE_CHECKING:
    from fakes.azure import AzureFake
    from fakes.gcp import FakeGcp

AZURE_VM_TYPE = "Microsoft.Compute/virtualMachines"


class CloudHooks(Protocol):
    name: str

    def running(self) -> dict[str, bytes]:
        """Instance id -> user-data, for every instance of ours the cloud reports as running now."""
        ...

    def powered_off(self, instance_id: str) -> None:
        """The guest powered itself off: end the instance as the cloud would."""
        ...


class AwsHooks:
    name = "aws"

    def __init__(self, ec2: Any) -> None:
        self.ec2 = ec2  # a boto3 EC2 client on moto directly (not through a fault proxy)

    def running(self) -> dict[str, bytes]:
        pages = self.ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [TAG_MANAGED_BY_VALUE]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
        found: dict[str, bytes] = {}
        for page in pages:
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    iid = instance["InstanceId"]
                    value = self.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
                    found[iid] = base64.b64decode(value["UserData"].get("Value", ""))
        return found

    def powered_off(self, instance_id: str) -> None:
        behaviour = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )["InstanceInitiatedShutdownBehavior"]["Value"]
        if behaviour == "terminate":
            self.ec2.terminate_instances(InstanceIds=[instance_id])
        else:
            self.ec2.stop_instances(InstanceIds=[instance_id])


class GcpHooks:
    name = "gcp"

    def __init__(self, fake: FakeGcp) -> None:
        self.fake = fake

    def running(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for instance in self.fake.instances():
            if (instance.get("labels") or {}).get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE:
                continue
            if instance.get("status") not in ("PROVISIONING", "STAGING", "RUNNING"):
                continue
            if not self.fake.has_egress(str(instance.get("zone", "")).rsplit("/", 1)[-1], str(instance["name"])):
                continue  # no external IP and no Cloud NAT: on GCP this VM could never reach Bitbucket
            items = {i["key"]: i.get("value", "") for i in (instance.get("metadata") or {}).get("items", [])}
            if "startup-script" in items:
                found[str(instance["name"])] = str(items["startup-script"]).encode()
        return found

    def powered_off(self, instance_id: str) -> None:
        self.fake.set_status(instance_id, "TERMINATED")


class AzureHooks:
    name = "azure"

    def __init__(self, fake: AzureFake) -> None:
        self.fake = fake

    def _vms(self) -> list[tuple[str, str]]:
        out = []
        for group in self.fake.groups():
            if self.fake.group_tags(group).get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE:
                continue
            out += [(group, name) for kind, name in self.fake.resources(group) if kind == AZURE_VM_TYPE]
        return out

    def running(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for group, vm in self._vms():
            if self.fake.power_state(group, vm) in ("stopped", "deallocated", "stopping", "deallocating"):
                continue
            doc = self.fake.resource(group, AZURE_VM_TYPE, vm)
            if doc["properties"].get("provisioningState", "Succeeded") != "Succeeded":
                continue
            found[group] = base64.b64decode(self.fake.custom_data(group, vm))
        return found

    def powered_off(self, instance_id: str) -> None:
        for group, vm in self._vms():
            if group == instance_id:
                self.fake.set_power_state(group, vm, "stopped")

"""FakeAws: the emulated AWS (moto_server, and the fault proxy in front of it) behind the one emulated-cloud
interface (fakes/emulated.py). The pipe talks to the proxy when there is one (faults, request count); this
class reads EC2 through a client on moto directly, so its own reads are never counted or faulted.

User data is base64 on the wire; decoded, it is the pipe's bytes (gzip or text: cloud-init undoes gzip).
A guest's power-off follows the instance's InstanceInitiatedShutdownBehavior (the pipe sets `terminate`;
`stop`, as the bake's instance has, leaves it stopped with its disk). Images made by CreateImage are found by
the instance they were made from (MakesDiskImages), so the VM proving ground can copy that VM's disk.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from typing import Any

from fakes.aws_faults import Fault, FaultProxy
from fakes.emulated import Instance, OursFromLive
from fakes.moto import UBUNTU_AMI, MotoServer
from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE

LIVE_STATES = ("pending", "running", "stopping", "stopped")
ENDED_STATES = ("shutting-down", "terminated")
# Dummy keys: moto accepts anything well-formed, and nothing leaves 127.0.0.1.
KEY_ID = "AKIAFAKEFORTESTS0001"
SECRET = "fake-aws-secret-key-for-tests-0001"


def ec2_client(url: str, region: str, key_id: str = KEY_ID, secret: str = SECRET) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


class FakeAws(OursFromLive):
    name = "aws"

    def __init__(
        self, ec2: Any, faults: FaultProxy | None = None, *, region: str = "us-west-1", moto: MotoServer | None = None
    ) -> None:
        self.ec2 = ec2  # a boto3 EC2 client on moto directly (not through the fault proxy)
        self.faults = faults
        self.region = region
        self.moto = moto  # set when this object started moto_server, and so stops it
        self.listed_states: tuple[str, ...] = LIVE_STATES  # what live_instances() lists by default

    @classmethod
    def start_local(cls, region: str) -> FakeAws:
        """Start moto_server (no fault proxy): the demo's AWS."""
        moto = MotoServer().start()
        return cls(ec2_client(moto.url, region), region=region, moto=moto)

    def start(self) -> FakeAws:
        return self

    def stop(self) -> None:
        if self.moto is not None:
            self.moto.stop()

    @property
    def url(self) -> str:
        """Where the pipe sends its EC2 calls: the fault proxy when there is one."""
        if self.faults is not None:
            return self.faults.url
        assert self.moto is not None
        return self.moto.url

    def cloud_env(self) -> dict[str, str]:
        return {
            "CLOUD": "aws",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": self.region,
        }

    def described(self, states: tuple[str, ...] = LIVE_STATES, *, ours_only: bool = False) -> list[dict[str, Any]]:
        """Instances in these states, as EC2 describes them."""
        filters = [{"Name": "instance-state-name", "Values": list(states)}]
        if ours_only:
            filters.append({"Name": f"tag:{TAG_MANAGED_BY}", "Values": [TAG_MANAGED_BY_VALUE]})
        pages = self.ec2.get_paginator("describe_instances").paginate(Filters=filters)
        return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

    def live_instances(self, states: tuple[str, ...] | None = None) -> list[Instance]:
        found = []
        for raw in self.described(states or self.listed_states):
            tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
            volumes = [m["Ebs"]["VolumeId"] for m in raw.get("BlockDeviceMappings", [])[:1]]
            disk = self.ec2.describe_volumes(VolumeIds=volumes)["Volumes"][0]["Size"] if volumes else 0
            found.append(
                Instance(
                    raw["InstanceId"],
                    tags.get("Name", ""),
                    raw["InstanceType"],
                    tags,
                    spot=raw.get("InstanceLifecycle") == "spot",
                    disk_gb=int(disk),
                    zone=raw["Placement"]["AvailabilityZone"],
                    status=raw["State"]["Name"],
                )
            )
        return found

    def boot_payloads(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for raw in self.described(("pending", "running"), ours_only=True):
            iid = raw["InstanceId"]
            value = self.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")
            found[iid] = base64.b64decode(value["UserData"].get("Value", ""))
        return found

    def images_made_from(self, instance_ids: Collection[str]) -> dict[str, str]:
        """Image id -> source instance, for images CreateImage made from these instances. EC2's DescribeImages
        filter `source-instance-id` and field `SourceInstanceId` ("The ID of the instance that the AMI was created
        from if the AMI was created using CreateImage", botocore's ec2 2016-11-15 model); moto 5.2 keeps both."""
        if not instance_ids:
            return {}
        filters = [{"Name": "source-instance-id", "Values": sorted(instance_ids)}]
        images = self.ec2.describe_images(Owners=["self"], Filters=filters)["Images"]
        return {i["ImageId"]: i["SourceInstanceId"] for i in images if i.get("SourceInstanceId") in instance_ids}

    def launched_from(self, instance_ids: Collection[str]) -> dict[str, str]:
        if not instance_ids:
            return {}
        pages = self.ec2.get_paginator("describe_instances").paginate(InstanceIds=sorted(instance_ids))
        return {i["InstanceId"]: i["ImageId"] for page in pages for r in page["Reservations"] for i in r["Instances"]}

    def no_capacity(self, *, spot_only: bool = False) -> None:
        assert self.faults is not None, "capacity errors come from the fault proxy"
        self.faults.faults.append(Fault("RunInstances", spot=True if spot_only else None))

    def power_off(self, instance_id: str) -> None:
        behaviour = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior"
        )["InstanceInitiatedShutdownBehavior"]["Value"]
        if behaviour == "terminate":
            self.ec2.terminate_instances(InstanceIds=[instance_id])
        else:
            self.ec2.stop_instances(InstanceIds=[instance_id])

    def seed(self, name: str, tags: dict[str, str]) -> str:
        """An instance created directly in EC2 with these tags only (someone else's, or a leftover of ours)."""
        all_tags = {"Name": name, **tags}.items()
        answer = self.ec2.run_instances(
            ImageId=UBUNTU_AMI,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags]}],
        )
        return str(answer["Instances"][0]["InstanceId"])

    def request_count(self) -> int | None:
        return len(self.faults.requests) if self.faults is not None else None  # every EC2 call passes the proxy

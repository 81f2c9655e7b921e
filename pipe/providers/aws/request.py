"""The RunInstances request and the instance EC2 answers, as plain data (no client, no call)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipe.providers.base import Instance, InstanceSpec

# EC2's "shutting-down" is our "stopping" (pipe/providers/base.py Instance.state).
_STATE = {"shutting-down": "stopping"}


def run_instances_request(
    spec: InstanceSpec, *, root_device: str, subnet_id: str, group_id: str, public_ip: bool, spot: bool
) -> dict[str, Any]:
    """IMDSv2 only with a hop limit of 1 (step containers cannot reach the instance's credentials), an
    encrypted root disk deleted with the instance, and shutdown terminates: security by default."""
    request: dict[str, Any] = {
        "ImageId": spec.image,
        "InstanceType": spec.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "UserData": spec.user_data,
        # A bake's instance stops instead: its disk becomes the image (pipe/bake/).
        "InstanceInitiatedShutdownBehavior": "stop" if spec.stop_on_shutdown else "terminate",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        "BlockDeviceMappings": [
            {
                "DeviceName": root_device,
                "Ebs": {
                    "VolumeSize": spec.disk_gb,
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                    "Encrypted": True,
                },
            }
        ],
        "NetworkInterfaces": [
            {
                "DeviceIndex": 0,
                "SubnetId": subnet_id,
                "Groups": [group_id],
                "AssociatePublicIpAddress": public_ip,
                "DeleteOnTermination": True,
            }
        ],
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": tag_list({**spec.tags, "Name": spec.name})}
            for kind in ("instance", "volume", "network-interface")
        ],
    }
    if spec.permission_set:
        key = "Arn" if spec.permission_set.startswith("arn:") else "Name"
        request["IamInstanceProfile"] = {key: spec.permission_set}
    if spot:
        options: dict[str, Any] = {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}
        if spec.spot_price is not None:
            options["MaxPrice"] = f"{spec.spot_price:.5f}"
        request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": options}
    return request


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def instance_from(raw: Mapping[str, Any], region: str) -> Instance:
    tags = {tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])}
    state = raw.get("State", {}).get("Name", "pending")
    return Instance(
        cloud="aws",
        id=raw["InstanceId"],
        name=tags.get("Name", raw["InstanceId"]),
        region=region,
        zone=raw.get("Placement", {}).get("AvailabilityZone", ""),
        instance_type=raw.get("InstanceType", ""),
        spot=raw.get("InstanceLifecycle") == "spot",
        state=_STATE.get(state, state),
        tags=tags,
    )

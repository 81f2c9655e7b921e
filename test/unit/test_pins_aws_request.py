"""The RunInstances request (pipe/providers/aws/request.py): security by default, asserted field by field
(issue #20). test_pins_runner.py proves the hop limit through moto; this pins every setting on the plain
request, where a mutation run changes one number or flag at a time. Each test names what it kills.
"""

from __future__ import annotations

from typing import Any

from pipe.providers.aws.request import instance_from, run_instances_request
from pipe.providers.base import InstanceSpec


def spec(**kw: Any) -> InstanceSpec:
    base: dict[str, Any] = dict(
        name="cml-abc",
        region="us-west-1",
        instance_type="m5.2xlarge",
        image="ami-1",
        disk_gb=50,
        user_data="#!/bin/bash\n",
        tags={"cml-managed-by": "cml-runner-pipe"},
    )
    return InstanceSpec(**(base | kw))


def request(public_ip: bool = False, spot: bool = False, **kw: Any) -> dict[str, Any]:
    return run_instances_request(
        spec(**kw), root_device="/dev/sda1", subnet_id="subnet-1", group_id="sg-1", public_ip=public_ip, spot=spot
    )


def test_one_instance_imdsv2_hop_limit_1_encrypted_disk_and_shutdown_terminates() -> None:
    """Kills any of the numbers (MinCount, MaxCount, hop limit, DeviceIndex) moved by one and any of the
    True flags (Encrypted, both DeleteOnTermination) turned to False."""
    sent = request()
    assert (sent["MinCount"], sent["MaxCount"]) == (1, 1)
    assert sent["MetadataOptions"] == {
        "HttpTokens": "required",
        "HttpEndpoint": "enabled",
        "HttpPutResponseHopLimit": 1,
    }
    assert sent["InstanceInitiatedShutdownBehavior"] == "terminate"
    [disk] = sent["BlockDeviceMappings"]
    assert disk == {
        "DeviceName": "/dev/sda1",
        "Ebs": {"VolumeSize": 50, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": True},
    }
    [nic] = sent["NetworkInterfaces"]
    assert nic == {
        "DeviceIndex": 0,
        "SubnetId": "subnet-1",
        "Groups": ["sg-1"],
        "AssociatePublicIpAddress": False,
        "DeleteOnTermination": True,
    }
    assert request(public_ip=True)["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is True
    assert [t["ResourceType"] for t in sent["TagSpecifications"]] == ["instance", "volume", "network-interface"]
    assert "IamInstanceProfile" not in sent and "InstanceMarketOptions" not in sent


def test_the_instance_profile_by_name_or_arn_and_spot_terminates_when_interrupted() -> None:
    """Kills the Arn/Name choice turned around and the spot options dropped or the price unformatted."""
    assert request(permission_set="cml-profile")["IamInstanceProfile"] == {"Name": "cml-profile"}
    arn = "arn:aws:iam::123456789012:instance-profile/cml"
    assert request(permission_set=arn)["IamInstanceProfile"] == {"Arn": arn}
    assert request(spot=True, spot_price=0.2)["InstanceMarketOptions"] == {
        "MarketType": "spot",
        "SpotOptions": {
            "SpotInstanceType": "one-time",
            "InstanceInterruptionBehavior": "terminate",
            "MaxPrice": "0.20000",
        },
    }
    assert "MaxPrice" not in request(spot=True)["InstanceMarketOptions"]["SpotOptions"]


def test_an_instance_as_ec2_describes_it() -> None:
    """Kills `InstanceLifecycle == "spot"` negated and the shutting-down state left unmapped."""
    raw = {
        "InstanceId": "i-1",
        "InstanceType": "t3.large",
        "InstanceLifecycle": "spot",
        "State": {"Name": "shutting-down"},
        "Placement": {"AvailabilityZone": "us-west-1a"},
        "Tags": [{"Key": "Name", "Value": "cml-abc"}],
    }
    found = instance_from(raw, "us-west-1")
    assert (found.id, found.name, found.zone, found.spot, found.state) == (
        "i-1",
        "cml-abc",
        "us-west-1a",
        True,
        "stopping",
    )
    plain = instance_from({"InstanceId": "i-2", "State": {"Name": "running"}}, "us-west-1")
    assert (plain.name, plain.spot, plain.state, plain.tags) == ("i-2", False, "running", {})

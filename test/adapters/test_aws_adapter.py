"""The AWS adapter through boto3 against moto_server (and the fault proxy) over real HTTP."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import boto3
import pytest
from cloud_options import provider_from_env
from fakes.aws_faults import Fault, FaultProxy
from fakes.moto import CUSTOM_AMI, GPU_AMI, UBUNTU_AMI
from fixtures_aws import AWS_REGION, our_instances

from pipe.providers.aws.lifecycle import AwsProvider
from pipe.providers.base import CapacityError, InstanceSpec, ProviderError

TAGS = {
    "cml-managed-by": "cml-runner-pipe",
    "cml-runner-uuid": "1111-2222",
    "cml-repository": "acme_ml-seeds",
    "cml-pipeline": "42",
    "cml-created-at": "1000",
    "cml-expires-at": "2000",
}


def provider(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> AwsProvider:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    provider: AwsProvider = provider_from_env("aws", AWS_REGION, env)
    return provider


def spec(**overrides: Any) -> InstanceSpec:
    fields: dict[str, Any] = {
        "name": "cml-abc",
        "region": AWS_REGION,
        "instance_type": "m5.2xlarge",
        "image": UBUNTU_AMI,
        "disk_gb": 50,
        "user_data": "#!/bin/bash\necho hello\n",
        "tags": TAGS,
    }
    fields.update(overrides)
    return InstanceSpec(**fields)


def test_launch_creates_one_hardened_tagged_instance(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, ec2: Any
) -> None:
    aws = provider(aws_env, monkeypatch)
    iam = boto3.client("iam", region_name=AWS_REGION, endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    iam.create_instance_profile(InstanceProfileName="cml-runner-profile")
    zone = aws.zones("m5.2xlarge")[0]
    instance = aws.launch(spec(permission_set="cml-runner-profile"), zone, spot=False)
    assert raw_profile(ec2, instance.id).endswith("instance-profile/cml-runner-profile")

    [raw] = our_instances(ec2)
    assert raw["InstanceId"] == instance.id
    assert raw["InstanceType"] == "m5.2xlarge"
    assert raw["ImageId"] == UBUNTU_AMI
    assert raw["Placement"]["AvailabilityZone"] == zone
    assert raw["MetadataOptions"]["HttpTokens"] == "required"
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags == {**TAGS, "Name": "cml-abc"}
    behaviour = ec2.describe_instance_attribute(InstanceId=instance.id, Attribute="instanceInitiatedShutdownBehavior")
    assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    user_data = ec2.describe_instance_attribute(InstanceId=instance.id, Attribute="userData")["UserData"]["Value"]
    assert base64.b64decode(user_data).decode() == "#!/bin/bash\necho hello\n"
    volume_id = raw["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert volume["Size"] == 50
    assert {t["Key"]: t["Value"] for t in volume["Tags"]}["cml-runner-uuid"] == "1111-2222"
    eni_groups = [g["GroupId"] for g in raw["NetworkInterfaces"][0]["Groups"]]
    [group] = ec2.describe_security_groups(GroupIds=eni_groups)["SecurityGroups"]
    assert group["GroupName"] == "cml-runner-pipe"
    assert group["IpPermissions"] == []


def raw_profile(ec2: Any, instance_id: str) -> str:
    [raw] = [i for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"] for i in r["Instances"]]
    return str(raw["IamInstanceProfile"]["Arn"])


def test_missing_instance_profile_names_the_variable(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    aws = provider(aws_env, monkeypatch)
    with pytest.raises(ProviderError, match="CLOUD_PERMISSION_SET"):
        aws.launch(spec(permission_set="no-such-profile"), aws.zones("m5.2xlarge")[0], spot=False)


def test_spot_request_carries_max_price(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, aws_faults: FaultProxy
) -> None:
    aws = provider(aws_env, monkeypatch)
    zone = aws.zones("m5.2xlarge")[0]
    aws_faults.faults.append(Fault("RunInstances", zone=zone, spot=True))
    with pytest.raises(CapacityError, match="spot"):
        aws.launch(spec(spot_price=0.12), zone, spot=True)
    assert aws_faults.injected >= 1
    assert aws.launch(spec(), zone, spot=False).zone == zone


def test_default_images_are_the_newest_ubuntu_and_the_gpu_image(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = provider(aws_env, monkeypatch)
    assert aws.resolve_image("", gpu=False) == UBUNTU_AMI
    assert aws.resolve_image("", gpu=True) == GPU_AMI
    assert aws.resolve_image("acme-training-*", gpu=False) == CUSTOM_AMI
    assert aws.resolve_image("ami-0123456789abcdef0", gpu=False) == "ami-0123456789abcdef0"
    with pytest.raises(ProviderError, match="CLOUD_IMAGE"):
        aws.resolve_image("no-such-image-*", gpu=False)


def test_list_ours_ignores_foreign_instances_and_terminate_is_idempotent(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, ec2: Any
) -> None:
    aws = provider(aws_env, monkeypatch)
    ec2.run_instances(ImageId=UBUNTU_AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    zone = aws.zones("m5.2xlarge")[0]
    ours = aws.launch(spec(), zone, spot=False)
    assert [i.id for i in aws.list_ours()] == [ours.id]
    assert aws.list_ours(repository_tag="other_repo") == []
    aws.terminate(ours)
    aws.terminate(ours)
    assert aws.list_ours() == []
    assert len(our_instances(ec2, states=("terminated",))) == 1


def test_unknown_type_in_region_is_a_clear_error(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    aws = provider(aws_env, monkeypatch)
    with pytest.raises(ProviderError, match="CLOUD_TYPE"):
        aws.zones("x9.mega")


def test_oidc_role_is_assumed_with_the_step_token(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        **aws_env,
        "AWS_OIDC_ROLE_ARN": "arn:aws:iam::123456789012:role/cml",
        "BITBUCKET_STEP_OIDC_TOKEN": "eyJ.fake.jwt",
    }
    aws = provider(env, monkeypatch)
    assert aws.zones("m5.2xlarge")


def test_oidc_without_token_says_to_enable_oidc(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**aws_env, "AWS_OIDC_ROLE_ARN": "arn:aws:iam::123456789012:role/cml"}
    with pytest.raises(ProviderError, match="oidc: true"):
        provider(env, monkeypatch)


def _subnet(ec2: Any, *, via: str) -> tuple[str, str, str]:
    """A subnet in us-west-1b of a new VPC whose way out is a NAT gateway ("nat") or an internet gateway ("igw")."""
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone="us-west-1b")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    if via == "igw":
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    else:
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    group = ec2.create_security_group(GroupName="corp-runners", Description="corp", VpcId=vpc)["GroupId"]
    return vpc, subnet, group


@pytest.mark.parametrize(("via", "public"), [("nat", False), ("igw", True)])
def test_a_given_subnet_is_the_only_zone_and_gets_a_public_ip_only_without_nat(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, ec2: Any, via: str, public: bool
) -> None:
    _, subnet, group = _subnet(ec2, via=via)
    env = {**aws_env, "CLOUD_AWS_SUBNET": subnet, "CLOUD_AWS_SECURITY_GROUP": "corp-runners"}
    aws = provider(env, monkeypatch)
    assert aws.zones("m5.2xlarge") == ["us-west-1b"]

    instance = aws.launch(spec(), "us-west-1b", spot=False)

    [raw] = our_instances(ec2)
    assert raw["InstanceId"] == instance.id and raw["SubnetId"] == subnet
    assert [g["GroupId"] for g in raw["NetworkInterfaces"][0]["Groups"]] == [group]
    assert bool(raw.get("PublicIpAddress")) is public
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["cml-runner-pipe"]}])[
        "SecurityGroups"
    ]


def test_unknown_subnet_and_group_name_their_variable(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, ec2: Any
) -> None:
    aws = provider({**aws_env, "CLOUD_AWS_SUBNET": "subnet-0123456789abcdef0"}, monkeypatch)
    with pytest.raises(ProviderError, match="CLOUD_AWS_SUBNET: subnet subnet-0123456789abcdef0 does not exist"):
        aws.zones("m5.2xlarge")
    _, subnet, _ = _subnet(ec2, via="nat")
    aws = provider(
        {**aws_env, "CLOUD_AWS_SUBNET": subnet, "CLOUD_AWS_SECURITY_GROUP": "sg-0123456789abcdef0"}, monkeypatch
    )
    with pytest.raises(ProviderError, match="CLOUD_AWS_SECURITY_GROUP"):
        aws.launch(spec(), "us-west-1b", spot=False)
    assert our_instances(ec2) == []


def test_terminate_many_is_one_call_per_batch_and_survives_an_id_already_gone(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, ec2: Any, aws_faults: FaultProxy
) -> None:
    aws = provider(aws_env, monkeypatch)
    zone = aws.zones("m5.2xlarge")[0]
    first, second = aws.launch(spec(), zone, spot=False), aws.launch(spec(), zone, spot=False)
    calls = len(aws_faults.requests)
    aws.terminate_many([first, second])
    assert [action for _, action in aws_faults.requests[calls:]] == ["TerminateInstances"]
    assert our_instances(ec2) == []
    # One unknown id fails a whole TerminateInstances ("none of the instances are terminated"): one by one then.
    third = aws.launch(spec(), zone, spot=False)
    ghost = dataclasses.replace(third, id="i-0123456789abcdef0")
    aws.terminate_many([ghost, third])
    assert our_instances(ec2) == []

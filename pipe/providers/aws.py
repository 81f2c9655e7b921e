"""AWS adapter (boto3). Imported only when CLOUD=aws.

Security by default, as terraform-aws-github-runner does it: IMDSv2 required
with a hop limit of 1 (step containers cannot reach the instance's
credentials), a security group with no ingress, an encrypted root disk, a
public IP only where the subnet has no other way out, and the instance
terminates itself on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pipe import log as redaction
from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    CapacityError,
    Instance,
    InstanceSpec,
    ProviderError,
)
from pipe.providers.catalog import DEFAULT_IMAGES

log = logging.getLogger("pipe.providers.aws")
SECURITY_GROUP_NAME = "cml-runner-pipe"
CANONICAL_OWNER = "099720109477"
AMAZON_OWNER = "amazon"
DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE = DEFAULT_IMAGES["aws"]

# Errors that mean "not here, not now": try the next zone or market.
_CAPACITY_CODES = {
    "InsufficientInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity",
    "SpotMaxPriceTooLow",
    "MaxSpotInstanceCountExceeded",
    "Unsupported",
}
_LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
# DescribeInstances serves at most 1,000 per page (MaxResults 5-1000): ask for the largest page.
_LIST_PAGE = 1000
# TerminateInstances takes "up to 1000 instance IDs. We recommend breaking up this request into smaller
# batches" (EC2 API reference, TerminateInstances, InstanceIds).
TERMINATE_BATCH = 100
_STATE = {"shutting-down": "stopping"}


def from_env(region: str, env: Mapping[str, str]) -> AwsProvider:
    """Credentials: the standard AWS chain, or OIDC web identity when AWS_OIDC_ROLE_ARN is set."""
    network = {
        "subnet_id": env.get("CLOUD_AWS_SUBNET", "").strip(),
        "security_group": env.get("CLOUD_AWS_SECURITY_GROUP", "").strip(),
    }
    role_arn = env.get("AWS_OIDC_ROLE_ARN", "")
    if not role_arn:
        return AwsProvider(region, boto3.session.Session(region_name=region), **network)
    token = env.get("BITBUCKET_STEP_OIDC_TOKEN", "")
    if not token:
        raise ProviderError(
            "AWS_OIDC_ROLE_ARN is set but the step has no BITBUCKET_STEP_OIDC_TOKEN: add 'oidc: true' to the step"
        )
    sts = boto3.client("sts", region_name=region, aws_access_key_id="", aws_secret_access_key="")
    log_calls(sts)
    try:
        credentials = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=f"cml-runner-{env.get('BITBUCKET_BUILD_NUMBER', 'local')}",
            WebIdentityToken=token,
            DurationSeconds=3600,
        )["Credentials"]
    except ClientError as error:
        raise ProviderError(
            f"AWS_OIDC_ROLE_ARN: could not assume {role_arn} with the step's OIDC token "
            f"({_code(error)}); check the role's trust policy names Bitbucket's OIDC provider"
        ) from None
    # Working keys for an hour: masked in all output from here on, like the variables' own secrets.
    for key in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        redaction.register_secret(str(credentials.get(key, "")))
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
    return AwsProvider(region, session, **network)


class AwsProvider:
    cloud = "aws"

    def __init__(
        self, region: str, session: boto3.session.Session, *, subnet_id: str = "", security_group: str = ""
    ) -> None:
        self.region = region
        self.subnet_id = subnet_id  # CLOUD_AWS_SUBNET; "" = the default subnet of each zone
        self.security_group = security_group  # CLOUD_AWS_SECURITY_GROUP; "" = our shared group
        # Capacity errors come back as HTTP 500: standard mode retries them 3 times (AWS_MAX_ATTEMPTS
        # overrides), then the zone fallback moves on.
        self._ec2: Any = session.client("ec2", config=Config(retries={"mode": "standard"}))
        self._described: dict[str, dict[str, Any]] = {}  # AMI id -> describe_images entry
        log_calls(self._ec2)

    def zones(self, instance_type: str) -> list[str]:
        offerings = self._call(
            "describe_instance_type_offerings",
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}],
        )["InstanceTypeOfferings"]
        zones = sorted(o["Location"] for o in offerings)
        if not zones:
            raise ProviderError(
                f"CLOUD_TYPE: {instance_type!r} is not offered in {self.region}; try another CLOUD_REGION"
            )
        if self.subnet_id:  # a subnet lives in one zone: that is the only place to try
            zone = str(self._given_subnet()["AvailabilityZone"])
            if zone not in zones:
                raise ProviderError(
                    f"CLOUD_TYPE: {instance_type!r} is not offered in {zone}, the zone of CLOUD_AWS_SUBNET "
                    f"{self.subnet_id}; offered in {', '.join(zones)}"
                )
            return [zone]
        return zones

    def resolve_image(self, requested: str, gpu: bool) -> str:
        if requested.startswith("ami-"):
            return requested
        if requested:
            images = self._images(requested, owners=None)
            variable = "CLOUD_IMAGE"
        else:
            pattern, owner = (DEFAULT_GPU_IMAGE, AMAZON_OWNER) if gpu else (DEFAULT_CPU_IMAGE, CANONICAL_OWNER)
            images = self._images(pattern, owners=[owner])
            requested, variable = pattern, "the default image"
        if not images:
            raise ProviderError(f"{variable}: no x86_64 AMI named {requested!r} in {self.region}")
        return str(max(images, key=lambda image: image.get("CreationDate", ""))["ImageId"])

    def image_disk_gb(self, image: str) -> int | None:
        """The size of the AMI's root snapshot: a smaller root volume fails with InvalidBlockDeviceMapping
        ("Volume of size 35GB is smaller than snapshot 'snap-...', expect size >= 100GB")."""
        described = self._image(image)
        root = described.get("RootDeviceName")
        for mapping in described.get("BlockDeviceMappings", []):
            size = mapping.get("Ebs", {}).get("VolumeSize")
            if mapping.get("DeviceName") == root and size:
                return int(size)
        return None

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        subnet = self._given_subnet() if self.subnet_id else self._default_subnet(zone)
        group = self._given_group(subnet["VpcId"]) if self.security_group else self._security_group(subnet["VpcId"])
        request: dict[str, Any] = {
            "ImageId": spec.image,
            "InstanceType": spec.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "UserData": spec.user_data,
            "InstanceInitiatedShutdownBehavior": "terminate",
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            "BlockDeviceMappings": [
                {
                    "DeviceName": self._root_device(spec.image),
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
                    "SubnetId": subnet["SubnetId"],
                    "Groups": [group],
                    "AssociatePublicIpAddress": self._needs_public_ip(subnet),
                    "DeleteOnTermination": True,
                }
            ],
            "TagSpecifications": [
                {"ResourceType": kind, "Tags": _tag_list({**spec.tags, "Name": spec.name})}
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
        try:
            created = self._ec2.run_instances(**request)["Instances"][0]
        except ClientError as error:
            if _code(error) in _CAPACITY_CODES:
                raise CapacityError(
                    f"{spec.instance_type} in {zone} ({'spot' if spot else 'on-demand'}): {_code(error)}"
                ) from None
            raise _explain(error, "run_instances") from None
        except (BotoCoreError, NoCredentialsError) as error:
            raise _explain(error, "run_instances") from None
        return _instance(created, self.region)

    def list_ours(self, repository_tag: str | None = None, *, with_state: bool = True) -> list[Instance]:
        """One DescribeInstances per 1,000 of ours (the state comes with it: with_state changes nothing)."""
        filters = [
            {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [TAG_MANAGED_BY_VALUE]},
            {"Name": "instance-state-name", "Values": _LIVE_STATES},
        ]
        if repository_tag:
            filters.append({"Name": f"tag:{TAG_REPOSITORY}", "Values": [repository_tag]})
        instances: list[Instance] = []
        paginator = self._ec2.get_paginator("describe_instances")
        try:
            for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": _LIST_PAGE}):
                for reservation in page["Reservations"]:
                    instances.extend(_instance(raw, self.region) for raw in reservation["Instances"])
        except (ClientError, BotoCoreError) as error:
            raise _explain(error, "describe_instances") from None
        return instances

    def terminate(self, instance: Instance) -> None:
        try:
            reservations = self._ec2.describe_instances(InstanceIds=[instance.id])["Reservations"]
            states = [i["State"]["Name"] for r in reservations for i in r["Instances"]]
            if not states or states[0] == "terminated":
                return
            self._ec2.terminate_instances(InstanceIds=[instance.id])
        except ClientError as error:
            if _code(error) == "InvalidInstanceID.NotFound":
                return
            raise _explain(error, "terminate_instances") from None

    def terminate_many(self, instances: Sequence[Instance], *, wait: bool = True) -> None:
        """One TerminateInstances per batch (EC2 never waits: ``wait`` changes nothing). It is idempotent for
        instances already terminated, but one unknown id fails the whole request ("none of the instances
        are terminated"): then one by one."""
        ids = [instance.id for instance in instances]
        for start in range(0, len(ids), TERMINATE_BATCH):
            batch = ids[start : start + TERMINATE_BATCH]
            try:
                self._ec2.terminate_instances(InstanceIds=batch)
            except BotoCoreError as error:
                raise _explain(error, "terminate_instances") from None
            except ClientError as error:
                if _code(error) != "InvalidInstanceID.NotFound":
                    raise _explain(error, "terminate_instances") from None
                for instance in instances[start : start + TERMINATE_BATCH]:
                    self.terminate(instance)

    # --- helpers

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._ec2, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise _explain(error, operation) from None

    def _images(self, pattern: str, owners: list[str] | None) -> list[dict[str, Any]]:
        filters = [{"Name": "name", "Values": [pattern]}, {"Name": "architecture", "Values": ["x86_64"]}]
        kwargs: dict[str, Any] = {"Filters": filters}
        if owners:
            kwargs["Owners"] = owners
        images: list[dict[str, Any]] = self._call("describe_images", **kwargs)["Images"]
        return images

    def _image(self, image_id: str) -> dict[str, Any]:
        if image_id not in self._described:
            images = self._call("describe_images", ImageIds=[image_id])["Images"]
            if not images:
                raise ProviderError(f"CLOUD_IMAGE: AMI {image_id!r} does not exist in {self.region}")
            self._described[image_id] = dict(images[0])
        return self._described[image_id]

    def _root_device(self, image_id: str) -> str:
        return str(self._image(image_id).get("RootDeviceName") or "/dev/sda1")

    def _given_subnet(self) -> dict[str, Any]:
        try:
            subnets = self._ec2.describe_subnets(SubnetIds=[self.subnet_id])["Subnets"]
        except ClientError as error:
            if _code(error).startswith("InvalidSubnetID"):
                subnets = []
            else:
                raise _explain(error, "describe_subnets") from None
        if not subnets:
            raise ProviderError(f"CLOUD_AWS_SUBNET: subnet {self.subnet_id} does not exist in {self.region}")
        return dict(subnets[0])

    def _given_group(self, vpc_id: str) -> str:
        key = "group-id" if self.security_group.startswith("sg-") else "group-name"
        found = self._call(
            "describe_security_groups",
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": key, "Values": [self.security_group]}],
        )["SecurityGroups"]
        if not found:
            raise ProviderError(f"CLOUD_AWS_SECURITY_GROUP: no security group {self.security_group!r} in {vpc_id}")
        return str(found[0]["GroupId"])

    def _default_subnet(self, zone: str) -> dict[str, Any]:
        subnets = self._call(
            "describe_subnets",
            Filters=[{"Name": "availability-zone", "Values": [zone]}, {"Name": "default-for-az", "Values": ["true"]}],
        )["Subnets"]
        if not subnets:
            raise ProviderError(f"no default subnet in {zone}: the account needs a default VPC in {self.region}")
        return dict(subnets[0])

    def _needs_public_ip(self, subnet: dict[str, Any]) -> bool:
        """True when the subnet's only way out is an internet gateway (no NAT): the runner must reach Bitbucket."""
        tables = self._call(
            "describe_route_tables", Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
        )["RouteTables"]
        if not tables:
            tables = self._call(
                "describe_route_tables",
                Filters=[
                    {"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                    {"Name": "association.main", "Values": ["true"]},
                ],
            )["RouteTables"]
        for table in tables:
            for route in table.get("Routes", []):
                if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                    return str(route.get("GatewayId", "")).startswith("igw-")
        return False

    def _security_group(self, vpc_id: str) -> str:
        """One shared group per VPC with no ingress rule; tagged ours, kept between runs."""
        found = self._call(
            "describe_security_groups",
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [SECURITY_GROUP_NAME]}],
        )["SecurityGroups"]
        if found:
            return str(found[0]["GroupId"])
        try:
            created = self._ec2.create_security_group(
                GroupName=SECURITY_GROUP_NAME,
                Description="CML Runner pipe: no inbound access; outbound only",
                VpcId=vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": _tag_list({TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE})}
                ],
            )
        except ClientError as error:
            if _code(error) == "InvalidGroup.Duplicate":  # a concurrent launch created it first
                return self._security_group(vpc_id)
            raise _explain(error, "create_security_group") from None
        return str(created["GroupId"])


def log_calls(client: Any) -> None:
    """Our own DEBUG line per AWS call: the operation and how it answered, never a body or a header.

    botocore's own DEBUG log (kept at WARNING, pipe/log.py) prints both: RunInstances' UserData, and
    AssumeRoleWithWebIdentity's response with the temporary keys.
    """
    service = client.meta.service_model.service_name

    def after_call(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        error = parsed.get("Error", {}).get("Code", "") if isinstance(parsed, dict) else ""
        status = getattr(http_response, "status_code", "?")
        log.debug("aws %s %s -> %s%s", service, model.name, status, f" {error}" if error else "")

    client.meta.events.register(f"after-call.{service}", after_call)


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _instance(raw: Mapping[str, Any], region: str) -> Instance:
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


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _explain(error: Exception, operation: str) -> ProviderError:
    """An AWS error -> what to fix. The message never holds credentials (AWS does not echo them)."""
    if isinstance(error, NoCredentialsError):
        return ProviderError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as secured variables, "
            "or AWS_OIDC_ROLE_ARN with 'oidc: true' on the step"
        )
    if isinstance(error, ClientError):
        code = _code(error)
        message = str(error.response.get("Error", {}).get("Message", "")).splitlines()[0][:300]
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            return ProviderError(
                f"the AWS credentials may not call ec2:{_action(operation)} ({code}); grant it to the user or role"
            )
        if code in ("AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"):
            return ProviderError(
                f"AWS rejected the credentials ({code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
            )
        if code.startswith("InvalidAMIID"):
            return ProviderError(f"CLOUD_IMAGE: {message}")
        if code in ("InvalidParameterValue", "InvalidParameterCombination") and "instance type" in message.lower():
            return ProviderError(f"CLOUD_TYPE: {message}")
        if code == "NoSuchEntity" or (code == "InvalidParameterValue" and "iamInstanceProfile" in message):
            return ProviderError(f"CLOUD_PERMISSION_SET: {message}")
        return ProviderError(f"AWS {operation} failed ({code}): {message}")
    return ProviderError(f"AWS {operation} failed: {str(error).splitlines()[0][:300]}")


def _action(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))

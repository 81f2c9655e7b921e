"""Where an instance is attached: its subnet, its security group, and whether it needs a public IP.

Given CLOUD_AWS_SUBNET / CLOUD_AWS_SECURITY_GROUP they are looked up as given; otherwise the zone's default
subnet and one shared group of ours with no inbound rule, created once per VPC and kept (like
terraform-aws-github-runner's). A public IP only where the subnet's way out is an internet gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from pipe.providers.aws.errors import error_code, explain
from pipe.providers.aws.request import tag_list
from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, ProviderError

SECURITY_GROUP_NAME = "cml-runner-pipe"


class Network:
    """The EC2 calls about networking, for one region; `call` runs an EC2 operation, translating its errors."""

    def __init__(self, ec2: Any, region: str, call: Callable[..., Any], *, subnet_id: str, security_group: str):
        self._ec2 = ec2
        self.region = region
        self._call = call
        self.subnet_id = subnet_id  # CLOUD_AWS_SUBNET; "" = the default subnet of each zone
        self.security_group = security_group  # CLOUD_AWS_SECURITY_GROUP; "" = our shared group

    def subnet(self, zone: str) -> dict[str, Any]:
        return self.given_subnet() if self.subnet_id else self._default_subnet(zone)

    def group(self, vpc_id: str) -> str:
        return self._given_group(vpc_id) if self.security_group else self._our_group(vpc_id)

    def given_subnet(self) -> dict[str, Any]:
        try:
            subnets = self._ec2.describe_subnets(SubnetIds=[self.subnet_id])["Subnets"]
        except ClientError as error:
            if error_code(error).startswith("InvalidSubnetID"):
                subnets = []
            else:
                raise explain(error, "describe_subnets") from None
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

    def needs_public_ip(self, subnet: dict[str, Any]) -> bool:
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

    def _our_group(self, vpc_id: str) -> str:
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
                    {"ResourceType": "security-group", "Tags": tag_list({TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE})}
                ],
            )
        except ClientError as error:
            if error_code(error) == "InvalidGroup.Duplicate":  # a concurrent launch created it first
                return self._our_group(vpc_id)
            raise explain(error, "create_security_group") from None
        return str(created["GroupId"])

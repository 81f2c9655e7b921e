"""The Provider on EC2: zones, images, launch, listing and terminating our instances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pipe.providers.aws import images
from pipe.providers.aws.errors import CAPACITY_CODES, decode_with, error_code, explain, log_calls
from pipe.providers.aws.network import Network
from pipe.providers.aws.request import instance_from, run_instances_request
from pipe.providers.base import (
    TAG_BAKE_ID,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    CapacityError,
    Instance,
    InstanceSpec,
    MachineImage,
    ProviderError,
)
from pipe.providers.catalog import DEFAULT_IMAGES

if TYPE_CHECKING:
    from pipe.config.clouds import AwsOptions
    from pipe.providers.quota import QuotaNeed

CANONICAL_OWNER = "099720109477"
AMAZON_OWNER = "amazon"
DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE = DEFAULT_IMAGES["aws"]
_LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
# DescribeInstances serves at most 1,000 per page (MaxResults 5-1000): ask for the largest page.
_LIST_PAGE = 1000
# TerminateInstances takes "up to 1000 instance IDs. We recommend breaking up this request into smaller
# batches" (EC2 API reference, TerminateInstances, InstanceIds).
TERMINATE_BATCH = 100


class AwsProvider:
    cloud = "aws"

    def __init__(self, region: str, session: boto3.session.Session, options: AwsOptions) -> None:
        self.region = region
        self._session = session  # for the quota check's Service Quotas client (quota.py)
        # Capacity errors come back as HTTP 500: standard mode retries them 3 times (AWS_MAX_ATTEMPTS
        # overrides), then the zone fallback moves on.
        self._ec2: Any = session.client("ec2", config=Config(retries={"mode": "standard"}))
        self._session = session
        self._described: dict[str, dict[str, Any]] = {}  # AMI id -> describe_images entry
        log_calls(self._ec2)
        decode_with(lambda: session.client("sts"))  # an access denied names the permission (errors.py)
        self.network = Network(
            self._ec2, region, self._call, subnet_id=options.subnet, security_group=options.security_group
        )

    def identity(self) -> str:
        """Whose the credentials are: sts GetCallerIdentity, read-only and allowed to everyone (DRY_RUN's check)."""
        sts = self._session.client("sts", config=Config(retries={"mode": "standard"}))
        log_calls(sts)
        try:
            return str(sts.get_caller_identity().get("Arn", ""))
        except (ClientError, BotoCoreError, NoCredentialsError) as error:
            raise explain(error, "get_caller_identity") from None

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
        if self.network.subnet_id:  # a subnet lives in one zone: that is the only place to try
            zone = str(self.network.given_subnet()["AvailabilityZone"])
            if zone not in zones:
                raise ProviderError(
                    f"CLOUD_TYPE: {instance_type!r} is not offered in {zone}, the zone of CLOUD_AWS_SUBNET "
                    f"{self.network.subnet_id}; offered in {', '.join(zones)}"
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
        subnet = self.network.subnet(zone)
        request = run_instances_request(
            spec,
            subnet_id=subnet["SubnetId"],
            group_id=self.network.group(subnet["VpcId"]),
            root_device=str(self._image(spec.image).get("RootDeviceName") or "/dev/sda1"),
            public_ip=self.network.needs_public_ip(subnet),
            spot=spot,
        )
        try:
            created = self._ec2.run_instances(**request)["Instances"][0]
        except ClientError as error:
            if error_code(error) in CAPACITY_CODES:
                raise CapacityError(
                    f"{spec.instance_type} in {zone} ({'spot' if spot else 'on-demand'}): {error_code(error)}"
                ) from None
            raise explain(error, "run_instances") from None
        except (BotoCoreError, NoCredentialsError) as error:
            raise explain(error, "run_instances") from None
        return instance_from(created, self.region)

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
                    instances.extend(instance_from(raw, self.region) for raw in reservation["Instances"])
        except (ClientError, BotoCoreError) as error:
            raise explain(error, "describe_instances") from None
        return instances

    def terminate(self, instance: Instance) -> None:
        try:
            reservations = self._ec2.describe_instances(InstanceIds=[instance.id])["Reservations"]
            states = [i["State"]["Name"] for r in reservations for i in r["Instances"]]
            if not states or states[0] == "terminated":
                return
            self._ec2.terminate_instances(InstanceIds=[instance.id])
        except ClientError as error:
            if error_code(error) == "InvalidInstanceID.NotFound":
                return
            raise explain(error, "terminate_instances") from None

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
                raise explain(error, "terminate_instances") from None
            except ClientError as error:
                if error_code(error) != "InvalidInstanceID.NotFound":
                    raise explain(error, "terminate_instances") from None
                for instance in instances[start : start + TERMINATE_BATCH]:
                    self.terminate(instance)

    # --- machine images of ours (COMMAND: bake): pipe/providers/aws/images.py

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> MachineImage:
        return images.create_image(self._ec2, instance, name, tags)

    def image(self, image_id: str) -> MachineImage | None:
        return images.image(self._ec2, image_id)

    def images_ours(self, repository_tag: str) -> list[MachineImage]:
        return images.images_ours(self._ec2, repository_tag)

    def delete_image(self, image: MachineImage) -> None:
        images.delete_image(self._ec2, image, image.tags.get(TAG_REPOSITORY, ""))

    def console_output(self, instance: Instance) -> str:
        return images.console_output(self._ec2, instance.id)

    def delete_bake_leftovers(self, repository_tag: str, bake_id: str) -> None:
        for image in self.images_ours(repository_tag):
            if image.tags.get(TAG_BAKE_ID) == bake_id:
                self.delete_image(image)
        images.delete_snapshots(self._ec2, images.snapshots_of_bake(self._ec2, TAG_BAKE_ID, bake_id))

    # --- helpers

    def quota_needs(
        self, instance_type: str, accelerator: str, accelerator_count: int, *, spot: bool
    ) -> list[QuotaNeed]:
        """The EC2 vCPU quota one instance counts against (providers/quota.py ReadsQuotas; aws/quota.py)."""
        from pipe.providers.aws import quota

        return quota.quota_needs(self._session, self._ec2, self.region, instance_type, spot=spot)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._ec2, operation)(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise explain(error, operation) from None

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

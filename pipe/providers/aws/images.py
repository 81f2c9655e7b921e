"""Machine images of ours on EC2 (COMMAND: bake): CreateImage from a stopped instance, with the image and its
snapshots tagged at creation; listing; deregistering with the snapshots. Plain functions on a client, called by
AwsProvider (lifecycle.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipe.providers.aws.errors import error_code, explain
from pipe.providers.aws.request import tag_list
from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, TAG_REPOSITORY, Instance, MachineImage

# EC2 image states (DescribeImages State): pending | available | invalid | deregistered | transient | failed | error.
_STATE = {"available": "available", "pending": "pending", "transient": "pending"}
_GONE = ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidAMIID.Malformed")
_SNAPSHOT_GONE = ("InvalidSnapshot.NotFound",)

Call = Callable[..., Any]


def create_image(ec2: Any, instance: Instance, name: str, tags: Mapping[str, str]) -> MachineImage:
    """CreateImage tags the AMI and the snapshots it makes in the same call (TagSpecifications with ResourceType
    image and snapshot), so no snapshot of ours is ever untagged, not even for a moment. The instance is stopped
    already (the bake's guest powered itself off): NoReboot spares EC2 a shutdown that would change nothing."""
    try:
        answer = ec2.create_image(
            InstanceId=instance.id,
            Name=name,
            Description=f"cml-runner baked image {name}",
            NoReboot=True,
            TagSpecifications=[
                {"ResourceType": kind, "Tags": tag_list({**tags, "Name": name})} for kind in ("image", "snapshot")
            ],
        )
    except (ClientError, BotoCoreError) as error:
        raise explain(error, "create_image") from None
    return MachineImage(cloud="aws", id=str(answer["ImageId"]), name=name, state="pending", tags=dict(tags))


def image(ec2: Any, image_id: str) -> MachineImage | None:
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as error:
        if error_code(error) in _GONE:
            return None
        raise explain(error, "describe_images") from None
    except BotoCoreError as error:
        raise explain(error, "describe_images") from None
    return _image_from(images[0]) if images else None


def images_ours(ec2: Any, repository_tag: str) -> list[MachineImage]:
    """Owned by this account (Owners self) and tagged ours for this repository: never a public or shared image."""
    try:
        images = ec2.describe_images(Owners=["self"], Filters=_ours_tagged(TAG_REPOSITORY, repository_tag))["Images"]
    except (ClientError, BotoCoreError) as error:
        raise explain(error, "describe_images") from None
    return [_image_from(raw) for raw in images]


def delete_image(ec2: Any, found: MachineImage, repository_tag: str) -> None:
    """Deregister, then delete the snapshots it kept that are tagged ours for this repository (a snapshot is
    provably ours only by its own tags: one shared with another image, or untagged, stays)."""
    snapshots = _snapshot_ids(ec2, found.id)
    try:
        ec2.deregister_image(ImageId=found.id)
    except ClientError as error:
        if error_code(error) not in _GONE:
            raise explain(error, "deregister_image") from None
    except BotoCoreError as error:
        raise explain(error, "deregister_image") from None
    delete_snapshots(ec2, _ours(ec2, snapshots, repository_tag))


def console_output(ec2: Any, instance_id: str) -> str:
    """GetConsoleOutput: the most recent 64 KB of the serial console, posted shortly after each state change (EC2
    API reference, GetConsoleOutput); botocore decodes the base64 Output. '' while EC2 has none."""
    try:
        answer = ec2.get_console_output(InstanceId=instance_id)
    except (ClientError, BotoCoreError) as error:
        raise explain(error, "get_console_output") from None
    return str(answer.get("Output") or "")


def snapshots_of_bake(ec2: Any, tag: str, value: str) -> list[str]:
    """Our snapshots with tag=value (a bake's, by its id): what a CreateImage cut short may have left."""
    try:
        snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=_ours_tagged(tag, value))["Snapshots"]
    except (ClientError, BotoCoreError) as error:
        raise explain(error, "describe_snapshots") from None
    return [str(s["SnapshotId"]) for s in snapshots]


def delete_snapshots(ec2: Any, snapshot_ids: list[str]) -> None:
    """Each snapshot deleted; one already gone counts as deleted."""
    for snapshot in snapshot_ids:
        try:
            ec2.delete_snapshot(SnapshotId=snapshot)
        except ClientError as error:
            if error_code(error) not in _SNAPSHOT_GONE:
                raise explain(error, "delete_snapshot") from None
        except BotoCoreError as error:
            raise explain(error, "delete_snapshot") from None


def _snapshot_ids(ec2: Any, image_id: str) -> list[str]:
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as error:
        if error_code(error) in _GONE:
            return []
        raise explain(error, "describe_images") from None
    except BotoCoreError as error:
        raise explain(error, "describe_images") from None
    return [
        str(m["Ebs"]["SnapshotId"])
        for raw in images
        for m in raw.get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    ]


def _ours(ec2: Any, snapshot_ids: list[str], repository_tag: str) -> list[str]:
    if not snapshot_ids:
        return []
    try:
        snapshots = ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]
    except ClientError as error:
        if error_code(error) in _SNAPSHOT_GONE:
            return []
        raise explain(error, "describe_snapshots") from None
    except BotoCoreError as error:
        raise explain(error, "describe_snapshots") from None
    mine = []
    for snapshot in snapshots:
        tags = {t["Key"]: t["Value"] for t in snapshot.get("Tags", [])}
        if tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE and tags.get(TAG_REPOSITORY) == repository_tag:
            mine.append(str(snapshot["SnapshotId"]))
    return mine


def _image_from(raw: Mapping[str, Any]) -> MachineImage:
    tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
    state = str(raw.get("State", "pending"))
    return MachineImage(
        cloud="aws",
        id=str(raw["ImageId"]),
        name=str(raw.get("Name", "")),
        state=_STATE.get(state, "failed"),
        tags=tags,
    )


def _ours_tagged(tag: str, value: str) -> list[dict[str, Any]]:
    """EC2 filters: managed by us, and tag=value."""
    return [
        {"Name": f"tag:{TAG_MANAGED_BY}", "Values": [TAG_MANAGED_BY_VALUE]},
        {"Name": f"tag:{tag}", "Values": [value]},
    ]

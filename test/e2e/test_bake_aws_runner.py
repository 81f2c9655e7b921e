"""Baked images in runner mode and in the sweep, on AWS, through the real process: runner mode with CLOUD_IMAGE
unset boots the newest baked image of ours with the current recipe hash (and its script says the boot skips the
installs), CLOUD_IMAGE: stock forces the stock image, other recipes and other repositories' images are never
used; COMMAND: sweep deletes our baked images older than the newest two per recipe, with their snapshots, and
nothing that is not provably ours."""

from __future__ import annotations

import base64
import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from fakes.aws_faults import Fault, FaultProxy
from fakes.bitbucket import FakeBitbucket
from fakes.moto import UBUNTU_AMI
from fixtures_aws import AWS_REGION, our_instances
from fixtures_pipe import output_lines, run_pipe
from test_bake_aws import BakeGuest
from vm_standin import VmStandIn

from pipe.bake.recipe import Recipe
from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE, FAST_PATH

CURRENT = Recipe(base_image=UBUNTU_AMI, runner_image=DEFAULT_RUNNER_IMAGE, gpu=False).hash
OTHER_REPOSITORY = "99999999-2222-3333-4444-555555555555"
_names = itertools.count(1)


@pytest.fixture()
def env(aws_env: dict[str, str], bb_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **aws_env,
        **bb_env,
        "CLOUD_REGION": "us-west",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.1",
        "AWS_MAX_ATTEMPTS": "1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture()
def repo_tag(bitbucket: FakeBitbucket) -> str:
    return bitbucket.repo().uuid.strip("{}").lower()


@pytest.fixture()
def vm(ec2: Any, bitbucket: FakeBitbucket) -> Iterator[VmStandIn]:
    standin = runner_vms(ec2, bitbucket)
    yield standin
    standin.stop()


def runner_vms(ec2: Any, bitbucket: FakeBitbucket) -> VmStandIn:
    """Boots runners' instances (test_runner_aws.py's stand-in); started after any bake, whose VM is BakeGuest."""

    def read() -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for raw in our_instances(ec2, states=("pending", "running")):
            value = ec2.describe_instance_attribute(InstanceId=raw["InstanceId"], Attribute="userData")
            found[raw["InstanceId"]] = base64.b64decode(value["UserData"]["Value"])
        return found

    return VmStandIn(read, f"{bitbucket.root_url}/_fake/oauth2/token").start()


@pytest.fixture()
def proxied_ec2(aws_faults: FaultProxy) -> Any:
    """EC2 through the fault proxy, which tags CreateImage's snapshots as EC2 does."""
    return boto3.client(
        "ec2", region_name=AWS_REGION, endpoint_url=aws_faults.url, aws_access_key_id="AKIAFAKEFORTESTS0001",
        aws_secret_access_key="fake-aws-secret-key-for-tests-0001", config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


def make_image(ec2: Any, proxied: Any, tags: dict[str, str]) -> str:
    """An image from a stopped instance, with these tags on the image and its snapshots."""
    instance = ec2.run_instances(ImageId=UBUNTU_AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
    image_id = proxied.create_image(
        InstanceId=instance["InstanceId"], Name=f"test-image-{next(_names)}",
        TagSpecifications=[{"ResourceType": kind, "Tags": tag_list} for kind in ("image", "snapshot")],
    )["ImageId"]  # fmt: skip
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    return str(image_id)


def baked_tags(repository: str, recipe: str, created: int) -> dict[str, str]:
    return {"cml-managed-by": "cml-runner-pipe", "cml-repository": repository, "cml-role": "baked-image",
            "cml-recipe": recipe, "cml-created-at": str(created)}  # fmt: skip


def launched_image(ec2: Any) -> str:
    [raw] = our_instances(ec2)
    return str(raw["ImageId"])


def user_data(ec2: Any) -> str:
    [raw] = our_instances(ec2)
    value = ec2.describe_instance_attribute(InstanceId=raw["InstanceId"], Attribute="userData")
    return base64.b64decode(value["UserData"]["Value"]).decode()


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_runner_mode_boots_the_newest_baked_image_of_the_current_recipe_and_its_boot_skips_the_installs(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, bitbucket: FakeBitbucket
) -> None:
    with BakeGuest(ec2, aws_faults):
        for _ in range(2):  # two bakes of the same recipe: the newer one is booted
            # The image name carries the bake's start second, and EC2 refuses a duplicate name: two bakes of one
            # recipe must not start in the same second (real bakes take minutes; these take under a second).
            time.sleep(1 - time.time() % 1)
            baked = run_pipe({**env, "COMMAND": "bake"})
            assert baked.returncode == 0, baked.stdout + baked.stderr
    newest = re.findall(r"Baked image (ami-\w+)", "\n".join(output_lines(baked)))[-1]

    vm = runner_vms(ec2, bitbucket)
    try:
        proc = run_pipe(env)
    finally:
        vm.stop()
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert launched_image(ec2) == newest
    assert re.search(rf"Plan: image: {newest} \(cml-baked-{CURRENT}-\d+\), baked from {UBUNTU_AMI} for recipe "
                     rf"{CURRENT}: the boot skips the installs and the pull", out), out  # fmt: skip
    assert FAST_PATH in user_data(ec2)


def test_cloud_image_stock_boots_the_stock_image_even_with_a_baked_one(
    env: dict[str, str], ec2: Any, proxied_ec2: Any, repo_tag: str, vm: VmStandIn
) -> None:
    make_image(ec2, proxied_ec2, baked_tags(repo_tag, CURRENT, 100))
    proc = run_pipe({**env, "CLOUD_IMAGE": "stock"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert launched_image(ec2) == UBUNTU_AMI
    assert "stock (CLOUD_IMAGE: stock)" in out and FAST_PATH not in user_data(ec2)


def test_images_of_another_recipe_or_another_repository_are_never_booted(
    env: dict[str, str], ec2: Any, proxied_ec2: Any, repo_tag: str, vm: VmStandIn
) -> None:
    make_image(ec2, proxied_ec2, baked_tags(repo_tag, "0" * 12, 100))  # a stale recipe of ours
    make_image(ec2, proxied_ec2, baked_tags(OTHER_REPOSITORY, CURRENT, 100))  # another repository's
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert launched_image(ec2) == UBUNTU_AMI
    assert f"stock (no baked image of ours for recipe {CURRENT} in us-west-1" in out
    assert FAST_PATH not in user_data(ec2)


def test_credentials_that_may_not_list_images_boot_the_stock_image_with_one_warning(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, vm: VmStandIn
) -> None:
    # The lookup of our images (DescribeImages, Owners self) is refused; resolving the stock image is not.
    aws_faults.faults.append(Fault("DescribeImages", code="UnauthorizedOperation", status=403,
                                   message="You are not authorized to perform this operation.",
                                   where={"Owner.1": "self"}))  # fmt: skip
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert launched_image(ec2) == UBUNTU_AMI
    [warning] = [line for line in output_lines(proc) if "could not look for a baked image" in line]
    assert warning.startswith("WARNING") and "ec2:DescribeImages (UnauthorizedOperation)" in warning, warning
    assert FAST_PATH not in user_data(ec2)


def test_sweep_deletes_baked_images_older_than_the_newest_two_per_recipe_with_their_snapshots_and_nothing_else(
    env: dict[str, str], ec2: Any, proxied_ec2: Any, repo_tag: str
) -> None:
    current = [make_image(ec2, proxied_ec2, baked_tags(repo_tag, CURRENT, t)) for t in (100, 400, 200, 300)]
    old_recipe = make_image(ec2, proxied_ec2, baked_tags(repo_tag, "0" * 12, 50))
    others = [make_image(ec2, proxied_ec2, baked_tags(OTHER_REPOSITORY, CURRENT, t)) for t in (1, 2, 3)]
    untagged = make_image(ec2, proxied_ec2, {"team": "ml"})
    snapshots = {i: snapshot_of(ec2, i) for i in [*current, old_recipe, *others, untagged]}

    proc = run_pipe({**env, "COMMAND": "sweep"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "2 stale baked image(s) deleted" in out
    gone = {current[0], current[2]}  # created at 100 and 200: older than the newest two (400, 300)
    left = {i["ImageId"] for i in ec2.describe_images()["Images"]}
    assert gone.isdisjoint(left)
    assert {current[1], current[3], old_recipe, *others, untagged} <= left
    existing = {s["SnapshotId"] for s in ec2.describe_snapshots()["Snapshots"]}
    assert {snapshots[i] for i in gone}.isdisjoint(existing)
    assert {snapshots[i] for i in snapshots if i not in gone} <= existing


def snapshot_of(ec2: Any, image_id: str) -> str:
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    return str(image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"])

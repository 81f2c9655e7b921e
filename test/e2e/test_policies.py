"""The policy files in docs/policies/ are exactly enough (issue 28), and an AWS access denied names the right
permission (issue 30, item 7).

Each mode (runner, bake, sweep) runs through the real entry point with only the permissions of its file, on a
stand-in that denies every call outside it: on AWS, moto's own IAM enforcement of the calling IAM user's policy plus
EC2's side checks (ec2:CreateTags for tags at creation, iam:PassRole for an instance profile) and STS's
DecodeAuthorizationMessage (fakes/aws_iam.py); on GCP and Azure, the local servers' check of the caller's
permission list (fakes/gcp/iam.py, fakes/azure/iam.py). Then one permission less in the file, and the mode fails,
naming it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from fakes.aws_faults import FaultProxy
from fakes.aws_iam import IamEnforcement, User, without
from fakes.azure import FakeAzure
from fakes.bitbucket import FakeBitbucket
from fakes.gcp import FakeGcp
from fakes.moto import MotoServer
from fixtures_aws import AWS_REGION, our_instances
from fixtures_pipe import REPO_ROOT, output_lines, run_pipe, strip_ansi
from test_bake_aws import BakeGuest
from test_bake_azure import AzureBakeGuest
from test_bake_gcp import GcpBakeGuest

from pipe.providers import permissions_aws
from pipe.providers.base import (
    ROLE_BAKED_IMAGE,
    TAG_CREATED_AT,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_RECIPE,
    TAG_REPOSITORY,
    TAG_ROLE,
)
from pipe.providers.tags import repository_tag

POLICIES = REPO_ROOT / "docs" / "policies"
PROFILE = "cml-runner-instance"  # CLOUD_PERMISSION_SET: the instance profile the runner's instance gets


def aws_policy(mode: str) -> dict[str, Any]:
    return dict(json.loads((POLICIES / f"aws-{mode}.json").read_text()))


def gcp_permissions(mode: str) -> list[str]:
    return list(yaml.safe_load((POLICIES / f"gcp-{mode}.yaml").read_text())["includedPermissions"])


def azure_actions(mode: str) -> list[str]:
    return list(json.loads((POLICIES / f"azure-{mode}.json").read_text())["Actions"])


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    return out


def test_the_policy_files_are_generated_from_the_declaration() -> None:
    proc = subprocess.run(
        [sys.executable, "tools/policies.py", "--check"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in POLICIES.iterdir()}
    for mode in ("runner", "bake", "sweep"):
        assert {f"aws-{mode}.json", f"gcp-{mode}.yaml", f"azure-{mode}.json"} <= names


def test_every_aws_call_the_pipe_makes_is_declared_with_its_permissions() -> None:
    """An access denied lists the permissions of its call (pipe/providers/aws/errors.py): none may be missing."""
    source = "\n".join(p.read_text() for p in (REPO_ROOT / "pipe" / "providers" / "aws").glob("*.py"))
    called = set(re.findall(r'(?:explain\(error, |_call\(\s*)"([a-z_]+)"', source))
    assert len(called) > 10
    assert called - set(permissions_aws.CALLS) == set()
    for mode in ("runner", "bake", "sweep"):
        assert set(permissions_aws.MODES[mode]) <= set(permissions_aws.CALLS)


# --- AWS: moto's IAM enforcement of the calling user's policy


class AwsWithIam:
    def __init__(self, moto: MotoServer, proxy: FaultProxy, env: dict[str, str]) -> None:
        self.iam = IamEnforcement(moto.url)
        self.proxy = proxy
        self.env = env

    def admin_ec2(self, *, through_proxy: bool = False) -> Any:
        assert self.iam.admin is not None
        return boto3.client(
            "ec2", region_name=AWS_REGION, endpoint_url=self.proxy.url if through_proxy else self.iam.moto_url,
            aws_access_key_id=self.iam.admin.key_id, aws_secret_access_key=self.iam.admin.secret,
        )  # fmt: skip

    def as_user(self, policy: dict[str, Any]) -> dict[str, str]:
        """One IAM user with this policy, and an instance profile to pass; then IAM is enforced. Its env."""
        [user] = self.iam.start({"cml-pipe": policy}).values()
        self._instance_profile()
        self.proxy.enforce_iam(self.iam)
        self.iam.enforce()
        return self.user_env(user)

    def two_users(self, runner: dict[str, Any], sweep: dict[str, Any]) -> dict[str, User]:
        users = self.iam.start({"cml-runner": runner, "cml-sweep": sweep})
        self._instance_profile()
        self.proxy.enforce_iam(self.iam)
        self.iam.enforce()
        return users

    def user_env(self, user: User) -> dict[str, str]:
        return {**self.env, "AWS_ACCESS_KEY_ID": user.key_id, "AWS_SECRET_ACCESS_KEY": user.secret}

    def _instance_profile(self) -> None:
        iam = boto3.client(
            "iam", endpoint_url=self.iam.moto_url, region_name="us-east-1",
            aws_access_key_id="AKIAFAKEFORTESTS0001", aws_secret_access_key="unused",
        )  # fmt: skip
        ec2_may_assume = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        trust = {"Version": "2012-10-17", "Statement": [ec2_may_assume]}
        iam.create_role(RoleName=PROFILE, AssumeRolePolicyDocument=json.dumps(trust))
        iam.create_instance_profile(InstanceProfileName=PROFILE)
        iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=PROFILE)

    def stop(self) -> None:
        self.proxy.enforce_iam(None)
        self.iam.stop()


@pytest.fixture()
def aws(moto: MotoServer, aws_faults: FaultProxy, aws_runner_env: dict[str, str], bitbucket: FakeBitbucket) -> Iterator[
    AwsWithIam
]:  # fmt: skip
    bitbucket.connect_on_register = True  # the VM "boots" at once: this is about the cloud's permissions
    world = AwsWithIam(moto, aws_faults, {**aws_runner_env, "CLOUD_PERMISSION_SET": PROFILE})
    yield world
    world.stop()


def test_aws_runner_mode_runs_with_only_the_permissions_of_its_policy_file(aws: AwsWithIam) -> None:
    env = aws.as_user(aws_policy("runner"))
    out = ok(run_pipe(env))
    [raw] = our_instances(aws.admin_ec2())
    assert raw["IamInstanceProfile"]["Arn"].endswith(f"/{PROFILE}"), out


def test_aws_bake_mode_runs_with_only_the_permissions_of_its_policy_file(aws: AwsWithIam) -> None:
    env = aws.as_user(aws_policy("bake"))
    with BakeGuest(aws.admin_ec2(), aws.proxy):
        out = ok(run_pipe({**env, "COMMAND": "bake", "CLOUD_PERMISSION_SET": None, "CML_RUNNER_POLL_SECONDS": "0.1"}))
    assert "Baked image ami-" in out
    assert our_instances(aws.admin_ec2()) == []


def test_aws_sweep_mode_runs_with_only_the_permissions_of_its_policy_file(
    aws: AwsWithIam, bitbucket: FakeBitbucket
) -> None:
    users = aws.two_users(aws_policy("runner"), aws_policy("sweep"))
    ok(run_pipe(aws.user_env(users["cml-runner"])))
    [instance] = our_instances(aws.admin_ec2())
    # Three baked images of one recipe, made through the stand-in (it tags their snapshots): the oldest is stale.
    ec2 = aws.admin_ec2(through_proxy=True)
    now = int(time.time())
    made = []
    for age in (3, 2, 1):
        baked = {
            TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, TAG_REPOSITORY: repository_tag(bitbucket.repo().uuid),
            TAG_ROLE: ROLE_BAKED_IMAGE, TAG_RECIPE: "0123456789ab", TAG_CREATED_AT: str(now - age),
        }  # fmt: skip
        tags = [{"Key": k, "Value": v} for k, v in baked.items()]
        made.append(ec2.create_image(
            InstanceId=instance["InstanceId"], Name=f"cml-baked-0123456789ab-{now - age}", NoReboot=True,
            TagSpecifications=[{"ResourceType": kind, "Tags": tags} for kind in ("image", "snapshot")],
        )["ImageId"])  # fmt: skip
    bitbucket.repo().runners.clear()  # its runner is gone: the instance is an orphan
    out = ok(run_pipe({**aws.user_env(users["cml-sweep"]), "COMMAND": "sweep"}))
    assert "1 instance(s) terminated" in out and "1 stale baked image(s) deleted" in out, out
    assert our_instances(aws.admin_ec2()) == []
    left = {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]}
    assert made[0] not in left and set(made[1:]) <= left


def test_aws_without_ec2_create_tags_the_launch_fails_naming_ec2_create_tags_and_leaves_nothing(
    aws: AwsWithIam, bitbucket: FakeBitbucket
) -> None:
    env = aws.as_user(without(aws_policy("runner"), "ec2:CreateTags"))
    proc = run_pipe(env)  # the first launch in the VPC makes our security group first
    assert proc.returncode == 1
    line = failure_line(proc)
    assert "may not call ec2:CreateTags on arn:aws:ec2:us-west-1:123456789012:security-group/*, which " \
        "ec2:CreateSecurityGroup needs (UnauthorizedOperation)" in line, line
    ec2 = aws.admin_ec2()
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    ec2.create_security_group(GroupName="cml-runner-pipe", Description="ours", VpcId=vpc["VpcId"])
    line = failure_line(run_pipe(env))
    assert "may not call ec2:CreateTags on arn:aws:ec2:us-west-1:123456789012:instance/*, which ec2:RunInstances " \
        "needs" in line, line
    assert "may not call ec2:RunInstances" not in line
    assert our_instances(ec2) == [] and list(bitbucket.repo().runners) == []


def test_aws_without_iam_pass_role_the_launch_fails_naming_iam_pass_role_on_the_role(aws: AwsWithIam) -> None:
    env = aws.as_user(without(aws_policy("runner"), "iam:PassRole"))
    line = failure_line(run_pipe(env))
    assert f"may not call iam:PassRole on arn:aws:iam::123456789012:role/{PROFILE}" in line, line
    assert "which ec2:RunInstances needs" in line


def test_aws_a_caller_who_may_not_decode_is_told_every_permission_the_call_needs(aws: AwsWithIam) -> None:
    policy = without(without(aws_policy("runner"), "iam:PassRole"), "sts:DecodeAuthorizationMessage")
    line = failure_line(run_pipe(aws.as_user(policy)))
    assert "it needs ec2:RunInstances, ec2:CreateTags, iam:PassRole" in line, line
    assert "sts:DecodeAuthorizationMessage" in line  # how to get the exact one next time


def test_aws_bake_without_ec2_create_image_fails_naming_it_and_leaves_no_instance(aws: AwsWithIam) -> None:
    env = aws.as_user(without(aws_policy("bake"), "ec2:CreateImage"))
    with BakeGuest(aws.admin_ec2(), aws.proxy):
        proc = run_pipe({**env, "COMMAND": "bake", "CLOUD_PERMISSION_SET": None, "CML_RUNNER_POLL_SECONDS": "0.1"})
    assert proc.returncode == 1
    assert "may not call ec2:CreateImage" in failure_line(proc), failure_line(proc)
    assert our_instances(aws.admin_ec2()) == []


def test_aws_sweep_without_ec2_terminate_instances_fails_naming_it(aws: AwsWithIam, bitbucket: FakeBitbucket) -> None:
    users = aws.two_users(aws_policy("runner"), without(aws_policy("sweep"), "ec2:TerminateInstances"))
    ok(run_pipe(aws.user_env(users["cml-runner"])))
    bitbucket.repo().runners.clear()
    proc = run_pipe({**aws.user_env(users["cml-sweep"]), "COMMAND": "sweep"})
    assert proc.returncode == 1
    assert "ec2:TerminateInstances" in "\n".join(output_lines(proc))
    assert len(our_instances(aws.admin_ec2())) == 1


# --- GCP and Azure: the local servers check the caller's permission list


def cloud_env(env: dict[str, str], bb_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **env, **bb_env, "CLOUD_REGION": "us-west", "WAIT_TIMEOUT": "60s", "CML_RUNNER_POLL_SECONDS": "0.1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }  # fmt: skip


@pytest.fixture()
def gcp(fake_gcp: FakeGcp, gcp_env: dict[str, str], bb_env: dict[str, str], bitbucket: FakeBitbucket,
        tmp_path: Path) -> Iterator[tuple[FakeGcp, dict[str, str]]]:  # fmt: skip
    bitbucket.connect_on_register = True
    yield fake_gcp, cloud_env(gcp_env, bb_env, tmp_path)
    fake_gcp.allow(None)


@pytest.fixture()
def azure(azure_fake: FakeAzure, bb_env: dict[str, str], bitbucket: FakeBitbucket,
          tmp_path: Path) -> Iterator[tuple[FakeAzure, dict[str, str]]]:  # fmt: skip
    bitbucket.connect_on_register = True
    azure_fake.retry_after = 1
    azure_fake.async_polls = 2  # long-running operations are polled, as on Azure: that needs a permission too
    yield azure_fake, cloud_env(azure_fake.cloud_env(), bb_env, tmp_path)
    azure_fake.allow(None)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_gcp_each_mode_runs_with_only_the_permissions_of_its_role_file(
    gcp: tuple[FakeGcp, dict[str, str]], bitbucket: FakeBitbucket
) -> None:
    fake, env = gcp
    fake.allow(gcp_permissions("runner"))
    ok(run_pipe({**env, "CLOUD_PERMISSION_SET": gcp_service_account(fake)}))
    [instance] = [i for i in fake.instances() if i.get("status") == "RUNNING"]
    assert instance["serviceAccounts"][0]["email"] == gcp_service_account(fake)
    bitbucket.repo().runners.clear()
    fake.allow(gcp_permissions("sweep"))
    assert "1 instance(s) terminated" in ok(run_pipe({**env, "COMMAND": "sweep"}))
    fake.allow(gcp_permissions("bake"))
    with GcpBakeGuest(fake):
        assert "Baked image" in ok(run_pipe({**env, "COMMAND": "bake"}))


def gcp_service_account(fake: FakeGcp) -> str:
    return f"cml-runner@{fake.project}.iam.gserviceaccount.com"


@pytest.mark.parametrize("permission", ["compute.instances.setMetadata", "iam.serviceAccounts.actAs"])
def test_gcp_one_permission_less_and_the_launch_fails_naming_it(
    gcp: tuple[FakeGcp, dict[str, str]], permission: str
) -> None:
    fake, env = gcp
    fake.allow(set(gcp_permissions("runner")) - {permission})
    proc = run_pipe({**env, "CLOUD_PERMISSION_SET": gcp_service_account(fake)})
    assert proc.returncode == 1
    assert permission in failure_line(proc), failure_line(proc)
    assert fake.instances() == []


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_azure_each_mode_runs_with_only_the_actions_of_its_role_file(
    azure: tuple[FakeAzure, dict[str, str]], bitbucket: FakeBitbucket
) -> None:
    fake, env = azure
    slow = 180  # every long-running operation polled once a second (Retry-After: 1), as Azure asks
    fake.allow(azure_actions("runner"))
    ok(run_pipe({**env, "CLOUD_PERMISSION_SET": fake.add_identity("identities", "cml-runner")}, timeout=slow))
    assert len(fake.groups()) == 1
    bitbucket.repo().runners.clear()
    fake.allow(azure_actions("sweep"))
    assert "1 instance(s) terminated" in ok(run_pipe({**env, "COMMAND": "sweep"}, timeout=slow))
    fake.allow(azure_actions("bake"))
    fake.async_polls = 0  # the bake's guest stand-in (test_bake_azure.py) runs with answers at once, as there
    with AzureBakeGuest(fake):
        assert "Baked image" in ok(run_pipe({**env, "COMMAND": "bake"}, timeout=slow))


@pytest.mark.parametrize(
    "action",
    [
        "Microsoft.Network/virtualNetworks/subnets/join/action",
        "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
        "Microsoft.Compute/locations/operations/read",
    ],
)
def test_azure_one_action_less_and_the_launch_fails_naming_it(
    azure: tuple[FakeAzure, dict[str, str]], action: str
) -> None:
    fake, env = azure
    fake.allow(set(azure_actions("runner")) - {action})
    proc = run_pipe({**env, "CLOUD_PERMISSION_SET": fake.add_identity("identities", "cml-runner")})
    assert proc.returncode == 1
    assert action in "\n".join(output_lines(proc))
    assert fake.groups() == []

"""Runner mode end to end on AWS: the real entry point process, moto_server, the local Bitbucket, and a
stand-in VM that boots the real startup script. After every failure, nothing of ours is left."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fakes.aws_faults import Fault, FaultProxy
from fakes.bitbucket import FakeBitbucket
from fakes.moto import GPU_AMI, UBUNTU_AMI
from fixtures_aws import our_instances, user_data_source
from fixtures_pipe import output_lines, pipe_env, run_pipe, strip_ansi
from vm_standin import VmStandIn

from pipe.runner.plan import MARKER_LABEL


@pytest.fixture()
def vm(aws_vm: VmStandIn) -> VmStandIn:
    return aws_vm


@pytest.fixture()
def env(aws_runner_env: dict[str, str]) -> dict[str, str]:
    return aws_runner_env


def runners(bitbucket: FakeBitbucket) -> list[Any]:
    return list(bitbucket.repo().runners.values())


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The pipe's one failure line: the last line on stdout (logs go to stderr)."""
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def assert_nothing_left(ec2: Any, bitbucket: FakeBitbucket) -> None:
    assert our_instances(ec2) == [], "an instance of ours is still alive"
    assert runners(bitbucket) == [], "a runner is still registered"


def test_launch_creates_one_instance_that_boots_the_registered_runner(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    proc = run_pipe({**env, "CLOUD_HDD_SIZE": "60", "LABELS": "cml.runner,gpu.free", "CLOUD_METADATA": "team=ml"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out

    [raw] = our_instances(ec2)
    assert raw["InstanceType"] == "m5.2xlarge"
    assert raw["ImageId"] == UBUNTU_AMI
    assert raw["MetadataOptions"]["HttpTokens"] == "required"
    shutdown = ec2.describe_instance_attribute(
        InstanceId=raw["InstanceId"], Attribute="instanceInitiatedShutdownBehavior"
    )
    assert shutdown["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
    volume = ec2.describe_volumes(VolumeIds=[raw["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]])["Volumes"][0]
    assert volume["Size"] == 60

    [runner] = runners(bitbucket)
    assert set(runner.labels) == {"self.hosted", "linux", "cml.runner", "gpu.free", MARKER_LABEL}
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags["cml-managed-by"] == "cml-runner-pipe"
    assert tags["cml-runner-uuid"] == runner.uuid.strip("{}")
    assert tags["cml-repository"] == bitbucket.repo().uuid.strip("{}")
    assert tags["cml-runner-scope"] == "repository"
    # The disk carries the same tags (moto drops a network-interface TagSpecification, so the ENI's
    # tags cannot be read back here; the launch asks for them in the same TagSpecifications).
    found = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
    assert (found["cml-repository"], found["cml-runner-scope"]) == (tags["cml-repository"], "repository")
    assert tags["team"] == "ml"
    assert int(tags["cml-expires-at"]) > int(tags["cml-created-at"])

    booted = vm.booted[raw["InstanceId"]]
    assert booted.online
    assert booted.runner_env["RUNNER_UUID"] == runner.uuid
    assert booted.runner_env["OAUTH_CLIENT_ID"] == runner.oauth_client_id
    assert booted.runner_env["OAUTH_CLIENT_SECRET"] == runner.oauth_client_secret
    assert booted.runner_env["REPOSITORY_UUID"] == bitbucket.repo().uuid
    assert booted.runner_env["ACCOUNT_UUID"] == bitbucket.repo().workspace.uuid

    # What the user reads: runner, labels, instance, type, zone, market, cost.
    for expected in (runner.name, "cml.runner", raw["InstanceId"], "m5.2xlarge", raw["Placement"]["AvailabilityZone"]):
        assert expected in out
    assert "on-demand" in out and "$0.384/h" in out
    # Left for later steps of the pipeline.
    shared = json.loads((Path(env["BITBUCKET_PIPE_SHARED_STORAGE_DIR"]) / "cml-runner" / "runner.json").read_text())
    assert (shared["uuid"], shared["instance"], shared["reused"]) == (runner.uuid, raw["InstanceId"], False)
    # No secret in any output: neither the runner's OAuth secret nor the API or AWS keys.
    for secret in (runner.oauth_client_secret, env["BITBUCKET_ACCESS_TOKEN"], env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in proc.stdout + proc.stderr


def test_user_data_carries_no_api_token_or_cloud_key(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    assert run_pipe(env).returncode == 0
    script = user_data_source(ec2)()
    [data] = script.values()
    for secret in (env["BITBUCKET_ACCESS_TOKEN"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_ACCESS_KEY_ID"]):
        assert secret.encode() not in data


def test_gpu_request_uses_the_gpu_type_and_image(env: dict[str, str], ec2: Any, vm: VmStandIn) -> None:
    proc = run_pipe({**env, "CLOUD_GPU": "t4"})
    assert proc.returncode == 0, proc.stdout
    [raw] = our_instances(ec2)
    assert (raw["InstanceType"], raw["ImageId"]) == ("g4dn.xlarge", GPU_AMI)


def test_reuse_creates_nothing_when_an_online_runner_has_the_labels(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    assert run_pipe(env).returncode == 0
    [runner] = runners(bitbucket)
    bitbucket.set_runner_busy(runner.uuid)

    proc = run_pipe({**env, "REUSE": "true"})
    assert proc.returncode == 0, proc.stdout
    assert "Reusing runner" in "\n".join(output_lines(proc))
    assert len(our_instances(ec2)) == 1 and len(runners(bitbucket)) == 1


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_reuse_idle_reuses_an_idle_runner_and_provisions_when_the_only_one_is_busy(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    assert run_pipe(env).returncode == 0
    [runner] = runners(bitbucket)

    assert run_pipe({**env, "REUSE_IDLE": "true"}).returncode == 0
    assert len(our_instances(ec2)) == 1

    bitbucket.set_runner_busy(runner.uuid)
    proc = run_pipe({**env, "REUSE_IDLE": "true"})
    assert proc.returncode == 0, proc.stdout
    assert len(our_instances(ec2)) == 2 and len(runners(bitbucket)) == 2


def test_spot_capacity_shortage_falls_back_to_on_demand(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, vm: VmStandIn
) -> None:
    aws_faults.faults.append(Fault("RunInstances", spot=True))
    proc = run_pipe({**env, "CLOUD_SPOT": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "falling back to on-demand" in out
    [raw] = our_instances(ec2)
    assert raw.get("InstanceLifecycle") != "spot"


# EC2's answer to a spot request whose MaxPrice is below the zone's spot price (an HTTP 400 client error).
PRICE_TOO_LOW = Fault(
    "RunInstances", code="SpotMaxPriceTooLow", status=400, spot=True,
    message="Your Spot request price of 0.2 is lower than the minimum required Spot request fulfillment price of 0.31.",
)  # fmt: skip


def test_a_spot_price_cap_is_never_exceeded_by_an_on_demand_launch(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.faults.append(PRICE_TOO_LOW)
    proc = run_pipe({**env, "CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "0.2"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 1, out
    assert "no on-demand fallback (CLOUD_SPOT_FALLBACK: none)" in out  # the plan says so
    assert "not falling back to on-demand (CLOUD_SPOT_FALLBACK: none)" in out  # and the log
    last = failure_line(proc)
    assert "no spot capacity at or below CLOUD_SPOT_PRICE $0.2/h for m5.2xlarge" in last, last
    assert "CLOUD_SPOT_FALLBACK: 'on-demand'" in last
    assert "(on-demand)" not in out  # not one on-demand launch was tried
    assert_nothing_left(ec2, bitbucket)


def test_a_price_cap_may_fall_back_to_on_demand_when_the_user_says_so(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, vm: VmStandIn
) -> None:
    aws_faults.faults.append(PRICE_TOO_LOW)
    variables = {"CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "0.2", "CLOUD_SPOT_FALLBACK": "on-demand"}
    proc = run_pipe({**env, **variables})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "falling back to on-demand if no zone has spot capacity" in out
    [raw] = our_instances(ec2)
    assert raw.get("InstanceLifecycle") != "spot"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"CLOUD_SPOT": "true", "CLOUD_SPOT_FALLBACK": "cheapest"}, "CLOUD_SPOT_FALLBACK"),
        ({"CLOUD_SPOT_FALLBACK": "none"}, "only with CLOUD_SPOT: 'true'"),
    ],
)
def test_a_bad_spot_fallback_is_one_line(variables: dict[str, str], expected: str) -> None:
    proc = run_pipe({"CLOUD": "aws", "DRY_RUN": "true", **variables})
    assert proc.returncode == 1
    assert expected in failure_line(proc) and "Traceback" not in proc.stdout + proc.stderr


def test_no_capacity_in_any_zone_is_a_clear_error_and_leaves_nothing(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.faults.append(Fault("RunInstances"))
    proc = run_pipe(env)
    assert proc.returncode == 1
    last = failure_line(proc)
    assert "no capacity for m5.2xlarge in any zone of us-west-1" in last
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_nothing_left(ec2, bitbucket)


def test_runner_never_online_times_out_and_rolls_back(env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket) -> None:
    proc = run_pipe({**env, "WAIT_TIMEOUT": "2s"})
    assert proc.returncode == 1
    assert "did not come ONLINE within 2s" in failure_line(proc)
    assert len(our_instances(ec2, states=("terminated",))) == 1
    assert_nothing_left(ec2, bitbucket)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_bitbucket_5xx_storm_fails_cleanly_and_leaves_nothing(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket
) -> None:
    bitbucket.add_fault("status", status=503, method="GET", path=r"/pipelines-config/runners/", times=None)
    proc = run_pipe(env, timeout=180)
    assert proc.returncode == 1
    assert "503" in failure_line(proc)
    bitbucket.clear_faults()
    assert_nothing_left(ec2, bitbucket)


def test_sigterm_mid_wait_rolls_back_before_exiting_1(env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipe"],
        env=pipe_env({**env, "WAIT_TIMEOUT": "120s"}),
        cwd=pipe_env()["BITBUCKET_CLONE_DIR"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not our_instances(ec2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_instances(ec2), "the pipe never launched an instance"
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 1, out
    assert "SIGTERM" in out
    assert_nothing_left(ec2, bitbucket)


def test_dry_run_prints_the_plan_and_creates_nothing(env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket) -> None:
    variables = {"DRY_RUN": "true", "DEBUG": "true", "CLOUD_SPOT": "true", "CLOUD_STARTUP_SCRIPT": "echo proxy-setup"}
    proc = run_pipe({**env, **variables})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    for expected in ("m5.2xlarge", "us-west-1", "spot", "0.384", "cml-managed-by", "echo proxy-setup"):
        assert expected in out
    assert "Credentials: the aws credentials the launch would use work: sts GetCallerIdentity answered" in out
    assert bitbucket.request_count() == 0
    assert_nothing_left(ec2, bitbucket)


def test_a_given_private_subnet_and_group_are_used_by_a_real_run(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.8.1.0/24", AvailabilityZone="us-west-1b")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="corp", Description="corp", VpcId=vpc)["GroupId"]

    proc = run_pipe({**env, "CLOUD_AWS_SUBNET": subnet, "CLOUD_AWS_SECURITY_GROUP": group})

    assert proc.returncode == 0, "\n".join(output_lines(proc))
    [raw] = our_instances(ec2)
    assert (raw["SubnetId"], raw["Placement"]["AvailabilityZone"]) == (subnet, "us-west-1b")
    assert [g["GroupId"] for g in raw["NetworkInterfaces"][0]["Groups"]] == [group]
    assert not raw.get("PublicIpAddress")  # no route out through an internet gateway: no public IP

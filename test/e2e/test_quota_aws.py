"""Can the launch start at all, on AWS (issue 29): the EC2 vCPU quota of the instance's family is read from
Service Quotas (the emulated account's values set per test) before anything is created, in runner mode and in
DRY_RUN, through the real entry point against moto and the local Bitbucket."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fixtures_aws import our_instances
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from vm_standin import VmStandIn

G_QUOTA = "L-DB2E81BA"  # Running On-Demand G and VT instances
G_SPOT_QUOTA = "L-3819A6DF"  # All G and VT Spot Instance Requests
STANDARD_QUOTA = "L-1216C47A"


@pytest.fixture()
def env(aws_runner_env: dict[str, str]) -> dict[str, str]:
    return {**aws_runner_env, "CLOUD_GPU": "t4"}  # g4dn.xlarge: 4 vCPUs, a G instance


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def assert_nothing_created(ec2: Any, bitbucket: FakeBitbucket) -> None:
    assert our_instances(ec2) == []
    assert list(bitbucket.repo().runners.values()) == []


def test_a_gpu_quota_of_0_fails_in_one_line_before_anything_is_created(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.quotas.applied[G_QUOTA] = 0
    proc = run_pipe(env)
    line = failure_line(proc)
    assert proc.returncode == 1, "\n".join(output_lines(proc))
    for expected in (
        G_QUOTA,
        "Running On-Demand G and VT instances",
        "is 0 vCPUs",
        "this launch needs 4",
        f"https://us-west-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/{G_QUOTA}",
    ):
        assert expected in line, line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_nothing_created(ec2, bitbucket)
    assert not [route for route, n in bitbucket.requests.items() if n and route.startswith("POST")], "no POST"


def test_the_default_value_counts_where_none_is_applied(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.quotas.defaults[G_QUOTA] = 2
    proc = run_pipe(env)
    assert proc.returncode == 1
    assert "is 2 vCPUs; this launch needs 4" in failure_line(proc)
    assert aws_faults.quotas.calls == ["GetServiceQuota", "GetAWSDefaultServiceQuota"]
    assert_nothing_created(ec2, bitbucket)


def test_dry_run_checks_the_quota_too(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.quotas.applied[G_QUOTA] = 0
    proc = run_pipe({**env, "DRY_RUN": "true"})
    assert proc.returncode == 1
    assert G_QUOTA in failure_line(proc) and "is 0 vCPUs" in failure_line(proc)
    assert bitbucket.request_count() == 0
    assert_nothing_created(ec2, bitbucket)

    aws_faults.quotas.applied[G_QUOTA] = 8
    proc = run_pipe({**env, "DRY_RUN": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert f"Quota: EC2 quota {G_QUOTA} (Running On-Demand G and VT instances) in us-west-1: 8 vCPUs" in out


def test_a_quota_that_cannot_be_read_is_one_warning_and_the_launch_goes_on(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy, aws_vm: VmStandIn
) -> None:
    aws_faults.quotas.denied = True
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [warning] = [line for line in out.splitlines() if "Quota not checked" in line]
    assert "servicequotas:GetServiceQuota (AccessDeniedException)" in warning and "the launch goes on" in warning
    assert len(our_instances(ec2)) == 1


def test_spot_short_with_on_demand_room_warns_and_goes_on(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy, aws_vm: VmStandIn
) -> None:
    aws_faults.quotas.applied[G_SPOT_QUOTA] = 0
    proc = run_pipe({**env, "CLOUD_SPOT": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert f"Spot: EC2 quota {G_SPOT_QUOTA} (All G and VT Spot Instance Requests)" in out
    assert "the launch goes on-demand" in out
    [raw] = our_instances(ec2)  # EC2 refused the spot request (MaxSpotInstanceCountExceeded): on-demand
    assert raw.get("InstanceLifecycle") != "spot"


def test_unread_the_quota_still_holds_at_launch_and_the_launch_is_rolled_back(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.quotas.applied[G_QUOTA] = 0
    aws_faults.quotas.denied = True  # the pre-check cannot see it: EC2 refuses RunInstances (VcpuLimitExceeded)
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 1, out
    assert "Quota not checked" in out
    assert "VcpuLimitExceeded" in failure_line(proc) and "rolled back" in failure_line(proc)
    assert_nothing_created(ec2, bitbucket)


def test_spot_and_on_demand_both_short_name_both_quotas(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.quotas.applied.update({G_SPOT_QUOTA: 0, G_QUOTA: 0})
    proc = run_pipe({**env, "CLOUD_SPOT": "true"})
    assert proc.returncode == 1
    assert G_SPOT_QUOTA in failure_line(proc) and G_QUOTA in failure_line(proc)
    assert_nothing_created(ec2, bitbucket)


def test_a_cpu_launch_counts_against_the_standard_quota(
    aws_runner_env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.quotas.applied[STANDARD_QUOTA] = 5  # a new account's default (the AWS CLI's example answer)
    proc = run_pipe(aws_runner_env)  # m5.2xlarge: 8 vCPUs
    assert proc.returncode == 1
    assert f"{STANDARD_QUOTA} (Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances)" in failure_line(proc)
    assert "this launch needs 8" in failure_line(proc)
    assert_nothing_created(ec2, bitbucket)

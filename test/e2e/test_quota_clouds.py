"""Can the launch start at all, on GCP and Azure (issue 29; AWS: test_quota_aws.py): the quotas the launch
counts against are read before anything is created, in runner mode and DRY_RUN, through the real entry point
against the local Compute Engine and Resource Manager, with the quota values set per test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from contract_clouds import AzureCloud, CloudUnderTest, GcpCloud
from fakes.bitbucket import FakeBitbucket
from fakes.gcp.state import Fault
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from vm_standin import VmStandIn


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def _env(cloud: CloudUnderTest, bb_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    return {
        **cloud.env,
        **bb_env,
        "CLOUD_REGION": "us-west",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.2",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture()
def gcp(fake_gcp: Any, gcp_env: dict[str, str]) -> GcpCloud:
    return GcpCloud(fake_gcp, gcp_env)


@pytest.fixture()
def gcp_vm(gcp: GcpCloud, bitbucket: FakeBitbucket) -> Iterator[VmStandIn]:
    standin = VmStandIn(gcp.user_data, f"{bitbucket.root_url}/_fake/oauth2/token").start()
    yield standin
    standin.stop()


def assert_nothing_created(cloud: CloudUnderTest, bitbucket: FakeBitbucket) -> None:
    assert cloud.instances() == []
    assert list(bitbucket.repo().runners.values()) == []


# ---- GCP -----------------------------------------------------------------------------------


def test_gcp_a_t4_quota_in_use_fails_in_one_line_before_anything_is_created(
    gcp: GcpCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    gcp.fake.state.region_quotas["us-west1"]["NVIDIA_T4_GPUS"] = (1.0, 1.0)  # one T4, in use
    proc = run_pipe({**_env(gcp, bb_env, tmp_path), "CLOUD_GPU": "t4"})
    line = failure_line(proc)
    assert proc.returncode == 1, "\n".join(output_lines(proc))
    for expected in (
        "GCP quota NVIDIA_T4_GPUS in us-west1 (project cml-test) is 1 GPUs, 1 in use",
        "this launch needs 1",
        "https://console.cloud.google.com/iam-admin/quotas?project=cml-test",
    ):
        assert expected in line, line
    assert_nothing_created(gcp, bitbucket)


def test_gcp_gpus_all_regions_of_0_fails_for_a_built_in_gpu_type_in_dry_run_too(
    gcp: GcpCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    gcp.fake.state.project_quotas["GPUS_ALL_REGIONS"] = (0.0, 0.0)  # a new project's value
    env = {**_env(gcp, bb_env, tmp_path), "CLOUD_GPU": "a100"}  # a2-highgpu-1g: 12 vCPUs, 1 A100 built in
    for run in ({**env, "DRY_RUN": "true"}, env):
        proc = run_pipe(run)
        assert proc.returncode == 1, "\n".join(output_lines(proc))
        assert "GCP quota GPUS_ALL_REGIONS (project cml-test) is 0 GPUs, 0 in use; this launch needs 1" in (
            failure_line(proc)
        )
    assert bitbucket.request_count() > 0  # the real run read the runner listing; DRY_RUN nothing
    assert_nothing_created(gcp, bitbucket)


def test_gcp_a_family_quota_counts_its_vcpus(
    gcp: GcpCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    gcp.fake.state.region_quotas["us-west1"]["N2_CPUS"] = (8.0, 4.0)
    proc = run_pipe({**_env(gcp, bb_env, tmp_path), "CLOUD_TYPE": "n2-standard-8", "DRY_RUN": "true"})
    assert proc.returncode == 1
    assert "GCP quota N2_CPUS in us-west1 (project cml-test) is 8 vCPUs, 4 in use; this launch needs 8" in (
        failure_line(proc)
    )


def test_gcp_spot_uses_the_preemptible_quota_where_there_is_one(
    gcp: GcpCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any, gcp_vm: VmStandIn
) -> None:
    gcp.fake.state.region_quotas["us-west1"]["PREEMPTIBLE_CPUS"] = (4.0, 4.0)
    proc = run_pipe({**_env(gcp, bb_env, tmp_path), "CLOUD_SPOT": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "Spot: GCP quota PREEMPTIBLE_CPUS in us-west1" in out and "the launch goes on-demand" in out
    assert "Launching e2-standard-8 (spot)" not in out  # Compute would refuse it: PREEMPTIBLE_CPUS exceeded
    [instance] = gcp.instances()
    assert not instance.spot


def test_gcp_a_quota_that_cannot_be_read_is_one_warning(
    gcp: GcpCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any, gcp_vm: VmStandIn
) -> None:
    gcp.fake.state.faults.append(Fault("regions.get", status=403, reason="forbidden", message="denied", times=None))
    proc = run_pipe(_env(gcp, bb_env, tmp_path))
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [warning] = [line for line in out.splitlines() if "Quota not checked" in line]
    assert "compute.regions.get (403)" in warning
    assert len(gcp.instances()) == 1


# ---- Azure ---------------------------------------------------------------------------------


@pytest.fixture()
def azure(azure_fake: Any, azure_provider: Any) -> AzureCloud:
    return AzureCloud(azure_fake, azure_provider, {"CLOUD": "azure", **azure_fake.env()})


@pytest.fixture()
def azure_vm(azure: AzureCloud, bitbucket: FakeBitbucket) -> Iterator[VmStandIn]:
    standin = VmStandIn(azure.user_data, f"{bitbucket.root_url}/_fake/oauth2/token").start()
    yield standin
    standin.stop()


def test_azure_a_family_quota_of_0_fails_in_one_line_before_anything_is_created(
    azure: AzureCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    azure.fake.quotas.usages["westus2"]["standardNCASv3_T4Family"] = (0.0, 0.0)  # a new subscription's value
    env = {**_env(azure, bb_env, tmp_path), "CLOUD_GPU": "t4"}  # Standard_NC8as_T4_v3: 8 vCPUs
    for run in ({**env, "DRY_RUN": "true"}, env):
        proc = run_pipe(run)
        line = failure_line(proc)
        assert proc.returncode == 1, "\n".join(output_lines(proc))
        for expected in (
            "Azure quota standardNCASv3_T4Family",
            "in westus2 is 0 vCPUs, 0 in use",
            "this launch needs 8",
            "https://portal.azure.com/",
        ):
            assert expected in line, line
    assert_nothing_created(azure, bitbucket)


def test_azure_the_regional_total_counts_what_is_in_use(
    azure: AzureCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    azure.fake.quotas.usages["westus2"]["cores"] = (10.0, 12.0)
    proc = run_pipe({**_env(azure, bb_env, tmp_path), "DRY_RUN": "true"})  # Standard_F8s_v2: 8 vCPUs
    assert proc.returncode == 1
    assert "Azure quota cores (Total Regional vCPUs) in westus2 is 12 vCPUs, 10 in use; this launch needs 8" in (
        failure_line(proc)
    )


def test_azure_spot_counts_against_the_regional_spot_quota(
    azure: AzureCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any, azure_vm: VmStandIn
) -> None:
    azure.fake.quotas.usages["westus2"]["lowPriorityCores"] = (0.0, 3.0)
    proc = run_pipe({**_env(azure, bb_env, tmp_path), "CLOUD_SPOT": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "Spot: Azure quota lowPriorityCores (Total Regional Low-priority vCPUs) in westus2 is 3 vCPUs" in out
    [instance] = azure.instances()
    assert not instance.spot


def test_azure_a_quota_that_cannot_be_read_is_one_warning(
    azure: AzureCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any, azure_vm: VmStandIn
) -> None:
    azure.fake.fail(
        "GET",
        r"/providers/Microsoft\.Compute/skus$",
        status=403,
        code="AuthorizationFailed",
        message="The client does not have authorization to perform action 'Microsoft.Compute/skus/read'",
    )
    proc = run_pipe(_env(azure, bb_env, tmp_path))
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [warning] = [line for line in out.splitlines() if "Quota not checked" in line]
    assert "Microsoft.Compute/skus/read (HTTP 403)" in warning
    assert len(azure.instances()) == 1


def test_gcp_unread_the_quota_still_holds_at_insert_and_the_launch_is_rolled_back(
    gcp: GcpCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    gcp.fake.state.project_quotas["GPUS_ALL_REGIONS"] = (0.0, 0.0)
    gcp.fake.state.faults.append(Fault("projects.get", status=403, reason="forbidden", message="denied", times=None))
    proc = run_pipe({**_env(gcp, bb_env, tmp_path), "CLOUD_GPU": "t4"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 1, out
    assert "Quota not checked" in out
    assert "GPUS_ALL_REGIONS" in failure_line(proc) and "rolled back" in failure_line(proc)
    assert_nothing_created(gcp, bitbucket)


def test_azure_unread_the_quota_still_holds_at_create_and_the_launch_is_rolled_back(
    azure: AzureCloud, bb_env: dict[str, str], bitbucket: FakeBitbucket, tmp_path: Any
) -> None:
    azure.fake.quotas.usages["westus2"]["standardFSv2Family"] = (0.0, 0.0)
    azure.fake.fail("GET", r"/locations/westus2/usages$", status=403, code="AuthorizationFailed", message="denied")
    proc = run_pipe(_env(azure, bb_env, tmp_path))  # Standard_F8s_v2
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 1, out
    assert "Quota not checked" in out
    assert "standardFSv2Family Cores quota" in failure_line(proc) and "rolled back" in failure_line(proc)
    assert_nothing_created(azure, bitbucket)

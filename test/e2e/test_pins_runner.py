"""Runner mode behaviours a mutation run (issue #20, `make mutate`) found unpinned, through the real process.

Each test names, in its docstring, the mutant it kills (a small plausible bug in the product code). The
set-up is runner mode on AWS as in test_runner_aws.py: the real entry point, moto behind the fault proxy,
the local Bitbucket and a stand-in VM that boots the real startup script.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.aws_faults import Fault, FaultProxy
from fakes.bitbucket import FakeBitbucket
from fixtures_aws import our_instances
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from vm_standin import VmStandIn


@pytest.fixture()
def vm(ec2: Any, bitbucket: FakeBitbucket) -> Iterator[VmStandIn]:
    def user_data() -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for raw in our_instances(ec2, states=("pending", "running")):
            value = ec2.describe_instance_attribute(InstanceId=raw["InstanceId"], Attribute="userData")
            found[raw["InstanceId"]] = base64.b64decode(value["UserData"]["Value"])
        return found

    standin = VmStandIn(user_data, f"{bitbucket.root_url}/_fake/oauth2/token").start()
    yield standin
    standin.stop()


@pytest.fixture()
def env(aws_env: dict[str, str], bb_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **aws_env,
        **bb_env,
        "CLOUD_REGION": "us-west",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.2",
        "AWS_MAX_ATTEMPTS": "1",  # an injected EC2 error is answered once: no botocore retries
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


def registered(bitbucket: FakeBitbucket) -> list[Any]:
    return list(bitbucket.repo().runners.values())


def last_line(proc: Any) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def test_reuse_provisions_when_the_online_runner_lacks_a_requested_label(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    """REUSE hands the step only to a runner with ALL the labels the step asks for.

    Kills: pipe/runner/decide.py, `wanted <= set(r.labels)` dropped or turned into `wanted & set(r.labels)`
    (an online runner sharing only some labels would be reused, and the step would wait forever for a runner
    with the missing one)."""
    first = run_pipe({**env, "LABELS": "cml.runner"})
    assert first.returncode == 0, first.stdout
    [online] = registered(bitbucket)
    assert online.status == "ONLINE"

    proc = run_pipe({**env, "LABELS": "cml.runner,gpu.free", "REUSE": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "Reusing runner" not in out
    assert len(our_instances(ec2)) == 2
    new = [r for r in registered(bitbucket) if r.uuid != online.uuid]
    assert len(new) == 1 and {"cml.runner", "gpu.free"} <= set(new[0].labels)


def test_a_failed_rollback_step_says_rollback_incomplete_and_the_sweep_then_removes_the_instance(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    """The runner never connects; rolling back, EC2 refuses to terminate the instance (it may be billing).

    The user must read what is left and how to remove it, and COMMAND: sweep must remove it. Kills, in
    pipe/runner/provision.py: `if failed:` negated or dropped (the message would claim everything was removed),
    the failed step's description left out; in pipe/runner/rollback.py: a failed step not recorded
    (`failed.append` dropped) or the loop stopped at the first failure (the runner would stay registered)."""
    aws_faults.faults.append(
        Fault("TerminateInstances", code="UnauthorizedOperation", status=403,
              message="You are not authorized to perform this operation.")
    )  # fmt: skip
    proc = run_pipe({**env, "WAIT_TIMEOUT": "2s"})
    assert proc.returncode == 1, proc.stdout
    line = last_line(proc)
    assert "did not come ONLINE within 2s" in line, line
    assert "rollback incomplete (terminate instances of runner cml-" in line, line
    assert line.endswith("run COMMAND: sweep"), line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(our_instances(ec2)) == 1, "the instance EC2 refused to terminate"
    assert registered(bitbucket) == [], "the rollback's other step (delete the runner) still ran"

    aws_faults.faults.clear()
    sweep = run_pipe({**env, "COMMAND": "sweep"})
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert our_instances(ec2) == [], "COMMAND: sweep left the instance of a deleted runner"


def test_the_instance_metadata_answers_only_the_instance_itself(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn
) -> None:
    """IMDSv2 with a PUT response hop limit of 1: a step's container (one more network hop) gets no token,
    so it cannot read the instance's credentials (terraform-aws-github-runner's default; AWS EC2 User Guide,
    "Configure the instance metadata options": "In a container environment, if the hop limit is 1, the
    IMDSv2 response does not return because going to the container is considered an additional network hop").

    Kills: pipe/providers/aws/request.py, `"HttpPutResponseHopLimit": 1` turned into 2 (or 0)."""
    proc = run_pipe(env)
    assert proc.returncode == 0, proc.stdout
    [raw] = our_instances(ec2)
    options = raw["MetadataOptions"]
    assert (options["HttpTokens"], options["HttpPutResponseHopLimit"], options["HttpEndpoint"]) == (
        "required",
        1,
        "enabled",
    )

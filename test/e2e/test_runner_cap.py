"""MAX_RUNNERS (issue 29): a launch past the cap fails with one line before anything is created, counted from
the runner listing the launch reads anyway; REUSE still reuses; through the real entry point on AWS (moto and
the local Bitbucket)."""

from __future__ import annotations

import subprocess
from typing import Any

from fakes.bitbucket import FakeBitbucket
from fixtures_aws import our_instances
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from vm_standin import VmStandIn

from pipe.runner.plan import MARKER_LABEL

OURS = ["self.hosted", "linux", "cml.runner", MARKER_LABEL]


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def test_a_launch_past_max_runners_fails_in_one_line_and_creates_nothing(
    aws_runner_env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket
) -> None:
    bitbucket.seed_runners(30, labels=["self.hosted", "linux", "team.build"], prefix="other")  # not ours
    bitbucket.seed_runners(1, labels=["self.hosted", "linux", "cml.runner"], prefix="foreign")  # no marker
    bitbucket.seed_runners(1, labels=[*OURS[:2], "cml.gpu", MARKER_LABEL], prefix="cml-gpu")  # other labels
    mine = bitbucket.seed_runners(2, labels=OURS, prefix="cml-mine")  # listed last: on the listing's last page
    before = {r.uuid for r in bitbucket.repo().runners.values()}

    proc = run_pipe({**aws_runner_env, "MAX_RUNNERS": "2"})

    line = failure_line(proc)
    assert proc.returncode == 1, "\n".join(output_lines(proc))
    assert line.startswith("✖ MAX_RUNNERS: 2 reached: this repository has 2 runner(s) of the pipe with labels"), line
    assert all(r.name in line for r in mine) and "REUSE" in line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert our_instances(ec2) == []
    assert {r.uuid for r in bitbucket.repo().runners.values()} == before  # nothing registered
    assert not [route for route, n in bitbucket.requests.items() if n and route.startswith("POST")]


def test_under_the_cap_the_launch_goes_on(
    aws_runner_env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_vm: VmStandIn
) -> None:
    bitbucket.seed_runners(2, labels=OURS, prefix="cml-mine")
    bitbucket.seed_runners(1, labels=OURS, prefix="cml-retiring", status="DISABLED")  # a sweep is retiring it
    proc = run_pipe({**aws_runner_env, "MAX_RUNNERS": "3"})
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    assert len(our_instances(ec2)) == 1


def test_reuse_comes_before_the_cap(aws_runner_env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket) -> None:
    [online] = bitbucket.seed_runners(1, labels=OURS, prefix="cml-online")
    proc = run_pipe({**aws_runner_env, "MAX_RUNNERS": "1", "REUSE": "true"})
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    assert f"Reusing runner {online.name}" in "\n".join(output_lines(proc))
    assert our_instances(ec2) == []


def test_a_bad_max_runners_is_one_line_before_any_call(
    aws_runner_env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    for value in ("0", "many", "1001"):
        proc = run_pipe({**aws_runner_env, "MAX_RUNNERS": value})
        assert proc.returncode == 1
        line = failure_line(proc)
        assert "MAX_RUNNERS" in line and value in line and "from 1 to 1000" in line, line
    assert bitbucket.request_count() == 0


def test_dry_run_shows_the_cap_and_calls_no_bitbucket(aws_runner_env: dict[str, str], bitbucket: FakeBitbucket) -> None:
    proc = run_pipe({**aws_runner_env, "MAX_RUNNERS": "4", "DRY_RUN": "true"})
    assert proc.returncode == 0
    assert "Plan: MAX_RUNNERS: 4" in "\n".join(output_lines(proc))
    assert bitbucket.request_count() == 0

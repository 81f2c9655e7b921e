"""DRY_RUN's plan as a new user reads it (issue 30, item 6): at most 30 lines, the startup script by size and
sha256 with each boot step and its purpose, the script itself only with DEBUG; and one read-only call that says
whether the cloud credentials the launch would use work, creating nothing, exit 0 either way. Through the real
entry point, and through `make dry-run` as the README tells a newcomer to run it."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fixtures_aws import our_instances
from fixtures_pipe import REPO_ROOT, output_lines, run_pipe, strip_ansi

from pipe.bootstrap.render import BootConfig, render_startup_script
from pipe.runner.dry_run import BOOT_STEP_PURPOSES, boot_steps

# The variables of `make dry-run` (Makefile), the README's first DRY_RUN: a GPU machine, no AWS credentials.
MAKE_DRY_RUN = {"COMMAND": "runner", "DRY_RUN": "true", "CLOUD": "aws", "CLOUD_REGION": "us-west", "CLOUD_TYPE": "m",
                "CLOUD_GPU": "t4", "LABELS": "cml.runner", "IDLE_TIMEOUT": "5min"}  # fmt: skip
MAX_PLAN_LINES = 30
UUID = "{11111111-2222-3333-4444-555555555555}"


def test_the_default_plan_is_short_and_names_the_script_by_size_hash_and_steps() -> None:
    proc = run_pipe(MAKE_DRY_RUN)
    lines = output_lines(proc)
    out = "\n".join(lines)
    assert proc.returncode == 0, out
    assert len(lines) <= MAX_PLAN_LINES, out
    assert "#!/bin/bash" not in out and "CML_AGENT_EOF" not in out  # no script text, no base64
    [script] = [line for line in lines if "Plan: startup script: " in line]
    assert " bytes, sha256 " in script and "DEBUG: 'true' prints it" in script, script
    steps = [line for line in lines if "boot step " in line]
    assert [line.split("boot step ", 1)[1].split(" ", 2)[1].rstrip(":") for line in steps] == [
        "prepare", "lifetime-fallback", "agent", "user-startup-script", "docker", "gpu", "pull-runner-image",
        "start-runner",
    ]  # fmt: skip
    assert "gpu: check the NVIDIA driver" in out
    # No AWS credentials at all: said in one line, and DRY_RUN still succeeds.
    [check] = [line for line in lines if "Credentials: " in line]
    assert check.startswith("WARNING: Credentials: the aws credentials the launch would use do not work: no AWS "
                            "credentials: set AWS_ACCESS_KEY_ID"), check  # fmt: skip
    assert strip_ansi(proc.stdout).strip().splitlines()[-1] == (
        "✔ DRY_RUN: nothing was created (the aws credentials do not work)"
    )


def test_debug_prints_the_script_whose_size_and_hash_the_plan_gave() -> None:
    proc = run_pipe({**MAKE_DRY_RUN, "DEBUG": "true", "CLOUD_STARTUP_SCRIPT": "echo proxy-setup"})
    out = strip_ansi(proc.stderr)
    assert proc.returncode == 0, out
    [summary] = [line for line in out.splitlines() if "Plan: startup script: " in line]
    size, digest = int(summary.split("script: ")[1].split(" bytes")[0]), summary.split("sha256 ")[1].split(" ")[0]
    rest = out.split("DEBUG: Plan: startup script (secrets masked):\n", 1)[1]
    following = re.search(r"\n(?=(INFO|WARNING|DEBUG): )", rest)
    script = rest[: following.start()] if following else rest
    assert "echo proxy-setup" in script and "#!/bin/bash" in script
    assert (len(script.encode()), hashlib.sha256(script.encode()).hexdigest()) == (size, digest)


def test_dry_run_with_working_credentials_says_whose_they_are_and_creates_nothing(
    aws_runner_env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    aws_faults.record.update({"RunInstances", "CreateSecurityGroup", "CreateTags"})
    before = len(aws_faults.requests)  # the proxy serves the whole worker: earlier tests' calls are in it
    proc = run_pipe({**aws_runner_env, "DRY_RUN": "true"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "INFO: Credentials: the aws credentials the launch would use work: sts GetCallerIdentity answered " \
        "arn:aws:sts::123456789012:user/moto." in out  # fmt: skip
    actions = [action for _, action in aws_faults.requests[before:]]
    # the credentials check, one read-only call; then only the quota pre-check's reads (issue 29)
    assert actions[0] == "GetCallerIdentity" and actions.count("GetCallerIdentity") == 1, actions
    assert all(action.startswith(("Describe", "Get")) for action in actions), actions
    assert aws_faults.answers == [] and our_instances(ec2) == [] and bitbucket.request_count() == 0


def test_make_dry_run_says_it_leaves_the_credentials_out_and_exits_0() -> None:
    venv = Path(sys.executable).parent.parent
    stamp = venv / ".installed"
    proc = subprocess.run(
        ["make", "--no-print-directory", "-o", str(stamp), "dry-run", f"VENV={venv}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = output_lines(proc)
    out = "\n".join(lines)
    assert proc.returncode == 0, out
    assert len(lines) <= MAX_PLAN_LINES, out
    assert lines[0] == (
        "make dry-run: AWS credentials are left out on purpose; the credentials check below says they do not work."
    )
    assert "Credentials: the aws credentials the launch would use do not work: no AWS credentials" in out
    assert "DRY_RUN: nothing was created (the aws credentials do not work)" in out


def test_every_boot_step_has_a_purpose() -> None:
    for cloud in ("aws", "gcp", "azure"):
        for gpu in (False, True):
            for baked in (False, True):
                boot = BootConfig(cloud=cloud, account_uuid=UUID, repository_uuid=UUID, runner_uuid=UUID,
                                  runner_name="cml-x", oauth_client_id="id", oauth_client_secret="secret",
                                  idle_timeout_s=300, max_lifetime_s=3600, single=False, gpu=gpu,
                                  user_startup_script="", baked=baked)  # fmt: skip
                steps = boot_steps(render_startup_script(boot))
                assert steps and set(steps) <= set(BOOT_STEP_PURPOSES), (cloud, gpu, baked, steps)

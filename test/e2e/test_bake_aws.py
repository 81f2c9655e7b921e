"""COMMAND: bake on AWS end to end: the real entry point process against moto behind the fault proxy (which keeps
EC2's image rules, support/fakes/aws_images.py), with a guest stand-in that runs each bake instance's real user-data
in the sandboxed VM and stops the instance when the script powers off. After every failure, the emulated cloud is
listed: no instance, image or snapshot of the bake is left."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bake_guest import PollingBakeGuest
from fakes.aws_faults import Fault, FaultProxy
from fakes.moto import UBUNTU_AMI
from fixtures_aws import our_instances
from fixtures_pipe import REPO_ROOT, output_lines, pipe_env, run_pipe, strip_ansi

REPO_TAG = "11111111-2222-3333-4444-555555555555"  # fixtures_pipe BASE_ENV's BITBUCKET_REPO_UUID


class BakeGuest(PollingBakeGuest):
    """Plays the bake's VM: runs the instance's user-data (the bake role) in a sandbox, puts its output on the
    instance's console (what GetConsoleOutput answers, through the fault proxy), then, as the guest's power-off
    does with InstanceInitiatedShutdownBehavior stop, stops the instance (bake_guest.py: only on the script's
    power-off or its armed timer). hang=True: never powers off."""

    def __init__(self, ec2: Any, faults: FaultProxy, hang: bool = False, sandbox: dict[str, Any] | None = None) -> None:
        super().__init__(hang, sandbox)
        self.ec2, self.faults = ec2, faults

    def running_bakes(self) -> list[tuple[str, dict[str, Any]]]:
        try:
            running = our_instances(self.ec2, states=("pending", "running"))
        except Exception:  # noqa: BLE001 - moto may be resetting between tests; look again
            return []
        tags_of = [(raw, {t["Key"]: t["Value"] for t in raw.get("Tags", [])}) for raw in running]
        return [(raw["InstanceId"], raw) for raw, tags in tags_of if tags.get("cml-role") == "bake"]

    def script_of(self, raw: dict[str, Any]) -> bytes:
        attribute = self.ec2.describe_instance_attribute(InstanceId=raw["InstanceId"], Attribute="userData")
        return base64.b64decode(attribute["UserData"]["Value"])

    def write_console(self, key: str, text: str) -> None:
        self.faults.consoles[key] = self.faults.consoles.get(key, "") + text

    def power_off(self, key: str) -> None:
        behaviour = self.ec2.describe_instance_attribute(InstanceId=key, Attribute="instanceInitiatedShutdownBehavior")[
            "InstanceInitiatedShutdownBehavior"
        ]["Value"]
        assert behaviour == "stop", "the bake's disk would be gone with a terminate-on-shutdown instance"
        self.ec2.stop_instances(InstanceIds=[key])


@pytest.fixture()
def env(aws_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **aws_env,
        "COMMAND": "bake",
        "CLOUD_REGION": "us-west",
        "CML_RUNNER_POLL_SECONDS": "0.1",
        "AWS_MAX_ATTEMPTS": "1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture()
def baseline(ec2: Any) -> tuple[set[str], set[str]]:
    """The images and snapshots moto starts with (the AMIs of fakes/moto.py and theirs)."""
    return cloud_images(ec2), cloud_snapshots(ec2)


def cloud_images(ec2: Any) -> set[str]:
    return {i["ImageId"] for i in ec2.describe_images()["Images"]}


def cloud_snapshots(ec2: Any) -> set[str]:
    return {s["SnapshotId"] for s in ec2.describe_snapshots()["Snapshots"]}


def assert_nothing_left(ec2: Any, baseline: tuple[set[str], set[str]]) -> None:
    assert our_instances(ec2) == [], "an instance of the bake is still alive"
    assert cloud_images(ec2) == baseline[0], "an image of the bake is left"
    assert cloud_snapshots(ec2) == baseline[1], "a snapshot of the bake is left"


def failure_line(proc: subprocess.CompletedProcess[str]) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def test_bake_makes_one_tagged_image_from_the_stopped_bake_instance_and_keeps_nothing_else(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, baseline: tuple[set[str], set[str]], tmp_path: Path
) -> None:
    with BakeGuest(ec2, aws_faults) as guest:
        proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [image_id] = cloud_images(ec2) - baseline[0]
    assert re.search(rf"Baked image {image_id} \(cml-baked-[0-9a-f]{{12}}-\d{{10}}, recipe [0-9a-f]{{12}}: base "
                     rf"{UBUNTU_AMI}, runner image \S+, bake script v2, CPU\)", out), out  # fmt: skip
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags["cml-managed-by"] == "cml-runner-pipe" and tags["cml-repository"] == REPO_TAG
    assert tags["cml-role"] == "baked-image" and image["Name"] == tags["Name"]
    assert image["Name"] == f"cml-baked-{tags['cml-recipe']}-{tags['cml-created-at']}"
    # Its snapshot carries the same tags (EC2 CreateImage TagSpecifications, ResourceType snapshot).
    [snapshot_id] = cloud_snapshots(ec2) - baseline[1]
    [snapshot] = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"]
    snap_tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert {k: snap_tags.get(k) for k in tags} == tags
    # The bake's instance is gone; it ran the bake role of the real script and powered off.
    assert our_instances(ec2) == []
    [(instance_id, console)] = guest.outputs.items()
    assert f"recipe {tags['cml-recipe']}" in console and "powering off for the image" in console
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    [terminated] = [i for r in reservations for i in r["Instances"]]
    assert terminated["State"]["Name"] == "terminated" and terminated["ImageId"] == UBUNTU_AMI
    assert image_id in (tmp_path / "cml-runner" / "image.json").read_text()


def test_bake_with_dry_run_prints_the_plan_and_creates_nothing(
    env: dict[str, str], ec2: Any, baseline: tuple[set[str], set[str]]
) -> None:
    proc = run_pipe({**env, "DRY_RUN": "true", "CLOUD_GPU": "t4"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "Plan: base image:" in out and "NVIDIA container toolkit" in out and "g4dn" in out
    assert_nothing_left(ec2, baseline)


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (Fault("RunInstances", code="UnauthorizedOperation", status=403,
               message="You are not authorized to perform this operation."), "UnauthorizedOperation"),
        (Fault("CreateImage", code="InternalError", status=500, message="An internal error has occurred"),
         "create_image"),
    ],
    ids=["launch", "create-image"],
)  # fmt: skip
def test_a_failure_at_launch_or_at_create_image_leaves_nothing(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, baseline: tuple[set[str], set[str]], fault: Fault, said: str
) -> None:
    aws_faults.faults.append(fault)
    with BakeGuest(ec2, aws_faults):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert said in failure_line(proc)
    if fault.action == "CreateImage":
        assert "rolled back" in failure_line(proc)
    assert_nothing_left(ec2, baseline)


def test_an_image_the_cloud_fails_to_make_is_deleted_with_its_snapshots_and_the_instance(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, baseline: tuple[set[str], set[str]]
) -> None:
    aws_faults.images.fail_new = True
    with BakeGuest(ec2, aws_faults):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "could not make image" in failure_line(proc) and "rolled back" in failure_line(proc)
    assert_nothing_left(ec2, baseline)


def test_a_bake_whose_install_fails_powers_off_by_its_timer_and_makes_no_image_but_says_why(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, baseline: tuple[set[str], set[str]]
) -> None:
    # The install fails under set -e after the backup power-off was armed: the timer stops the instance later,
    # and a stopped instance alone is no bake (issue 31.1).
    with BakeGuest(ec2, aws_faults, sandbox={"apt_missing": ("docker.io",)}) as guest:
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert list(guest.powered_off.values()) == ["timer"]
    out = "\n".join(output_lines(proc))
    # The guest's last console lines name the failed step, then the one-line failure.
    assert "| E: Unable to locate package docker.io" in out and "| cml-runner: step docker: FAILED (exit 100)" in out
    assert "without 'cml-runner: bake succeeded for recipe " in failure_line(proc)
    assert "rolled back" in failure_line(proc)
    assert_nothing_left(ec2, baseline)
    assert aws_faults.images.created == {}  # CreateImage was never called


def test_the_success_line_is_read_from_the_console_ec2_keeps(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, baseline: tuple[set[str], set[str]]
) -> None:
    # A guest whose console EC2 no longer holds the line (more than 64 KB after it) is not taken on trust.
    class Noisy(BakeGuest):
        def write_console(self, key: str, text: str) -> None:
            super().write_console(key, text + "kernel: noise\n" * 7000)

    with Noisy(ec2, aws_faults):
        proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "| kernel: noise" in "\n".join(output_lines(proc))
    assert_nothing_left(ec2, baseline)


def start_pipe(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipe"], env=pipe_env(env), cwd=str(REPO_ROOT),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_sigterm_while_the_bake_instance_installs_terminates_it(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, baseline: tuple[set[str], set[str]]
) -> None:
    with BakeGuest(ec2, aws_faults, hang=True) as guest:
        proc = start_pipe(env)
        wait_for(lambda: bool(guest.outputs))
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    assert "stopped by SIGTERM" in strip_ansi(stdout)
    assert_nothing_left(ec2, baseline)


def test_sigterm_during_image_creation_deletes_the_half_made_image_its_snapshots_and_the_instance(
    env: dict[str, str], ec2: Any, aws_faults: FaultProxy, baseline: tuple[set[str], set[str]]
) -> None:
    aws_faults.images.hold_pending = True
    with BakeGuest(ec2, aws_faults):
        proc = start_pipe(env)
        wait_for(lambda: bool(aws_faults.images.created))
        time.sleep(0.3)  # the pipe is polling the pending image
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stdout + stderr
    assert "stopped by SIGTERM" in strip_ansi(stdout) and "rolled back" in strip_ansi(stdout)
    assert_nothing_left(ec2, baseline)


@pytest.fixture()
def bake_once(env: dict[str, str], ec2: Any, aws_faults: FaultProxy) -> Iterator[str]:
    with BakeGuest(ec2, aws_faults):
        proc = run_pipe(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield re.findall(r"Baked image (ami-\w+)", strip_ansi(proc.stdout))[-1]

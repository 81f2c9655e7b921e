"""The boot script's apt calls and GPU driver install in the sandboxed VM against what Ubuntu's cloud images do:
dpkg's lock held by unattended-upgrades for minutes after a first boot (the sandbox's apt-get holds it for
apt_lock_s and fails at once without DPkg::Lock::Timeout), and `ubuntu-drivers install --gpgpu` installing a
driver without nvidia-smi (the sandbox's ubuntu-drivers does the same)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_bake_script import RECIPE, runner_cfg
from vm_sandbox import VmSandbox

from pipe.bootstrap.render import render_bake_script, render_startup_script

LOCK_WAIT = ["-o", "DPkg::Lock::Timeout=600"]


@pytest.mark.parametrize("role", ["runner", "bake"])
def test_every_apt_call_waits_for_dpkg_s_lock_held_after_boot_and_says_so(tmp_path: Path, role: str) -> None:
    box = VmSandbox(tmp_path, docker=False, nvidia_driver=False, nvidia_toolkit=False, apt_lock_s=2.0)
    script = (render_bake_script("aws", gpu=True, recipe=RECIPE, deadline_s=2400) if role == "bake"
              else render_startup_script(runner_cfg("aws", gpu=True)))  # fmt: skip
    started = time.monotonic()
    result = box.run(script)
    assert result.returncode == 0, result.stdout
    assert time.monotonic() - started >= 2.0  # the install waited for the lock to go
    calls = box.calls("apt-get")
    assert calls and all(argv[:2] == LOCK_WAIT for argv in calls), calls
    assert "Waiting for cache lock" in result.stdout  # apt's own line, then the install once the lock is free
    assert "cml-runner: apt-get install (waits for dpkg's lock up to 600 s)" in result.stdout
    assert ["install", "-y", "-q", "--no-install-recommends", "docker.io"] in box.apt_calls()


def test_without_the_lock_timeout_the_sandbox_apt_fails_at_once_as_apt_does(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, apt_lock_s=30.0)
    started = time.monotonic()
    result = box.run("#!/bin/bash\napt-get install -y docker.io\n")
    assert result.returncode == 100 and time.monotonic() - started < 5
    assert "Could not get lock /var/lib/dpkg/lock-frontend" in result.stdout
    bounded = box.run("#!/bin/bash\napt-get -o DPkg::Lock::Timeout=1 install -y docker.io\n")
    assert bounded.returncode == 100  # waits 1 s, then gives up as apt does


def test_a_driver_less_gpu_image_gets_nvidia_smi_with_the_driver_and_needs_no_reboot(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, docker=True, nvidia_driver=False, nvidia_toolkit=False, apt_lock_s=0)
    result = box.run(render_startup_script(runner_cfg("gcp", gpu=True)))
    assert result.returncode == 0, result.stdout
    installs = [argv[-1] for argv in box.apt_calls() if argv[0] == "install"]
    assert installs == ["ubuntu-drivers-common", "nvidia-utils-580-server", "nvidia-container-toolkit"]
    assert box.calls("ubuntu-drivers") == [["install", "--gpgpu"]]
    assert (box.bin / "nvidia-smi").exists() and box.calls("nvidia-smi") == [["-L"]]
    assert box.calls("reboot") == [] and "WARNING" not in result.stdout

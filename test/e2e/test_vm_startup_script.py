"""On a real booted VM: a failing CLOUD_STARTUP_SCRIPT fails the boot visibly on the console; the pipe,
stopped while it waits, terminates the instance and the VM goes with it (issue 15, scenarios 5 and 7; the
script running before the runner: test_vm_launch.py)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import BOOT_TO_ONLINE_S, VmCloud, launch_pipe

pytestmark = pytest.mark.vm


def test_a_failing_startup_script_fails_the_boot_on_the_console_and_a_stopped_pipe_leaves_nothing(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("aws")
    run = launch_pipe({**cloud.env, "CLOUD_STARTUP_SCRIPT": "echo 'proxy setup failed' >&2\nexit 3"})
    run.wait_for("waiting for the runner to connect", 120)
    [iid] = cloud.ours()
    vm = cloud.hypervisor.wait_booted(iid)
    vm.wait_for(r"cml-runner: step user-startup-script: FAILED \(exit 3\)", BOOT_TO_ONLINE_S)
    assert "proxy setup failed" in vm.console()
    assert "cml-runner: step docker: start" not in vm.console()  # nothing after the failed step ran

    run.process.send_signal(signal.SIGTERM)  # the pipe is stopped while it waits: it rolls back
    assert run.wait(120) == 1, run.output
    assert "SIGTERM" in run.output
    assert cloud.hypervisor.wait_ended(iid, 60) == "killed"
    assert cloud.ours() == []
    assert list(bitbucket.repo().runners.values()) == []

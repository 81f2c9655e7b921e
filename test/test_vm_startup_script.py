"""On a real booted VM: CLOUD_STARTUP_SCRIPT runs before Docker and the runner are touched, and a failing
one fails the boot visibly on the console; the pipe, stopped while it waits, terminates the instance and
the VM goes with it (issue 15, scenarios 5 and 7)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import BOOT_TO_ONLINE_S, VmCloud, launch_online, launch_pipe, sweep_away

pytestmark = pytest.mark.vm

USER_SCRIPT = "echo \"user-script: runner containers: $(docker ps -q 2>/dev/null | wc -l)\" | tee /dev/console"


def test_the_startup_script_runs_before_the_runner_starts(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("gcp")
    up = launch_online(cloud, bitbucket, {"CLOUD_STARTUP_SCRIPT": USER_SCRIPT})
    console = up.vm.console()
    ran = console.index("user-script: runner containers: 0")
    assert console.index("cml-runner: step user-startup-script: start") < ran
    assert ran < console.index("cml-runner: step start-runner: start"), up.vm.tail()
    sweep_away(cloud, bitbucket, up)


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

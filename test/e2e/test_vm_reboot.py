"""On a real booted VM: after a hard reset (QEMU's system_reset) the per-boot re-run of the script brings
the same runner back ONLINE without a second registration; with SINGLE the guest then powers off after its
first step (issue 15, scenarios 4 and 3's SINGLE)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import BOOT_TO_ONLINE_S, VmCloud, launch_online

pytestmark = [pytest.mark.vm, pytest.mark.vm_long]  # `make vm-long-test`; not in `make test` (CI time, issue 27)

REGISTER = "POST /repositories/{workspace}/{repo_slug}/pipelines-config/runners"
BOOT_SCRIPT = "cml-runner: boot script for "


def test_after_a_reset_the_same_runner_comes_back_and_single_powers_off_after_one_step(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("aws")
    up = launch_online(cloud, bitbucket, {"SINGLE": "true", "IDLE_TIMEOUT": "10min"})
    vm, runner = up.vm, up.runner
    assert runner.oauth_presented == 1
    code, first_start = vm.run("cat /var/lib/cml-runner/started_at")
    assert code == 0

    vm.reset()
    deadline = time.monotonic() + BOOT_TO_ONLINE_S
    while runner.oauth_presented < 2:  # the rebooted VM's runner signs in again
        assert time.monotonic() < deadline, "the runner did not come back after the reset" + vm.tail()
        time.sleep(1)
    assert vm.console().count(BOOT_SCRIPT) == 2, vm.tail()  # the per-boot copy ran on the second boot
    assert [r.uuid for r in bitbucket.repo().runners.values()] == [runner.uuid]
    assert runner.status == "ONLINE"
    assert bitbucket.request_count(REGISTER) == 1  # registered once, by the pipe, before the first boot
    assert vm.run("cat /var/lib/cml-runner/started_at")[1] == first_start  # MAX_LIFETIME counts from boot 1

    step = bitbucket.queue_step(runner.uuid, duration_s=20)
    assert cloud.hypervisor.wait_ended(up.instance_id, 400) == "powered off"
    assert bitbucket.steps[step.uuid].status == "PASSED"
    assert "cml-agent: terminating the instance: single step done" in vm.console(), vm.tail()
    assert cloud.ours() == []

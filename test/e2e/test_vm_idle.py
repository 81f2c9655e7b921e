"""On a real booted VM: a step longer than IDLE_TIMEOUT runs to its end; after IDLE_TIMEOUT with no step
the guest powers itself off and the instance is gone; a step handed to the runner while the agent is
stopping it is run to its end, never abandoned half-done (issue 15, scenario 2). The launch itself is checked
first as test_vm_launch.py checks it on GCP and Azure (scenarios 1 and 5 on AWS), saving CI a boot."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import USER_SCRIPT_ENV, VmCloud, assert_booted_from_its_user_data, launch_online

pytestmark = [pytest.mark.vm, pytest.mark.vm_long]  # `make vm-long-test`; not in `make test` (CI time, issue 27)

IDLE_S = 45  # the idle clock starts when the runner is ready (agent.py), however slow the boot
STOPPING = r"cml-agent: idle for (\d+) s: stopping the runner"


def wait_step(bitbucket: FakeBitbucket, uuid: str, status: str, timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while bitbucket.steps[uuid].status != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"step {uuid} is {bitbucket.steps[uuid].status}, not {status}" + why())
        time.sleep(0.5)


def test_a_long_step_runs_to_its_end_then_the_idle_guest_powers_off_and_a_late_step_is_not_lost(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("aws")
    # A step longer than IDLE_TIMEOUT, the runner's first; the launch checked as on every cloud (scenarios 1, 5).
    env = {**USER_SCRIPT_ENV, "IDLE_TIMEOUT": f"{IDLE_S}s", "MAX_LIFETIME": "1h"}
    up = launch_online(cloud, bitbucket, env, first_step_s=IDLE_S + 15)
    assert_booted_from_its_user_data(cloud, up)
    iid, vm, runner = up.instance_id, up.vm, up.runner
    [long_step] = bitbucket.steps.values()
    wait_step(bitbucket, long_step.uuid, "PASSED", IDLE_S + 240, vm.tail)
    assert not re.search(STOPPING, vm.console()), vm.tail()
    assert "Getting step StepId{" in vm.run(f"docker logs runner-{runner.uuid.strip('{}')} 2>&1")[1]
    # The agent read the runner's real log lines (pipe/bootstrap/agent.py LOG_READY, LOG_START, LOG_END).
    vm.wait_for(r"cml-agent: runner completed a step \(PASSED\)", 60)
    console = vm.console()
    ready = console.index("cml-agent: runner is ready")
    assert ready < console.index("cml-agent: runner took a step") < console.index("cml-agent: runner completed")

    # Idle: the next step waits in Bitbucket's queue until the agent is stopping the runner, then reaches it.
    bitbucket.hold_steps()
    # Longer than docker stop's 30 s grace: a runner stopped with it would be killed mid-step.
    late = bitbucket.queue_step(runner.uuid, duration_s=45, name="late")
    stopping = vm.wait_for(STOPPING, IDLE_S + 120)
    bitbucket.hold_steps(False)
    idle_seen_s = int(stopping.group(1))
    assert idle_seen_s <= IDLE_S + 30, vm.tail()  # the agent's own count of idle time since the last step

    assert cloud.hypervisor.wait_ended(iid, 600) == "powered off"
    finished = time.time()
    step = bitbucket.steps[late.uuid]
    assert step.status == "PASSED", f"the late step was {step.status} when the guest powered off" + vm.tail(120)
    assert step.completed_at is not None and step.completed_at < finished
    assert cloud.ours() == []  # AWS: shutdown behaviour terminate
    last_end = max(s.completed_at or 0 for s in bitbucket.steps.values())
    print(f"power-off {finished - last_end:.0f} s after the last step ended (IDLE_TIMEOUT {IDLE_S} s; "
          f"TCG guest shutdown included)", file=sys.stderr)  # fmt: skip

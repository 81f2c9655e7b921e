"""On a real booted VM: MAX_LIFETIME ends the instance at its deadline while a step runs, and also when
the idle agent is dead, through the boot script's backup, which needs neither D-Bus nor logind
(issue 15, scenario 3; SINGLE is proven after a reboot in test_vm_reboot.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import VmCloud, launch_online

from pipe.bootstrap.render import LIFETIME_BACKUP_GRACE_S

pytestmark = pytest.mark.vm

LIFETIME_S = 120  # from the script's first start; the runner is ONLINE well before


def test_max_lifetime_powers_off_at_the_deadline_while_a_step_runs(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("aws")
    up = launch_online(cloud, bitbucket, {"IDLE_TIMEOUT": "60s", "MAX_LIFETIME": f"{LIFETIME_S}s"}, first_step_s=3600)
    iid, vm = up.instance_id, up.vm
    [step] = bitbucket.steps.values()

    assert cloud.hypervisor.wait_ended(iid, LIFETIME_S + 300) == "powered off"
    console = vm.console()
    assert "cml-agent: terminating the instance: max lifetime reached" in console, vm.tail()
    assert bitbucket.steps[step.uuid].status == "RUNNING"  # ended mid-step, as MAX_LIFETIME must
    assert cloud.ours() == []


def test_max_lifetime_powers_off_without_the_agent_dbus_or_logind(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("aws")
    up = launch_online(cloud, bitbucket, {"IDLE_TIMEOUT": "never", "MAX_LIFETIME": f"{LIFETIME_S}s"})
    iid, vm = up.instance_id, up.vm
    code, timers = vm.run("systemctl list-timers --all --no-pager cml-lifetime.timer")
    assert code == 0 and "cml-lifetime.timer" in timers, timers
    # The agent dies, and so do D-Bus and logind: what is left must still end the instance.
    code, out = vm.run(
        "systemctl stop cml-agent.service && systemctl mask --runtime cml-agent.service && "
        "systemctl stop systemd-logind.service dbus.socket dbus.service && "
        "! systemctl is-active --quiet dbus.service systemd-logind.service && ! pgrep -f '[a]gent[.]py' && echo dead"
    )
    assert code == 0 and "dead" in out, out

    assert cloud.hypervisor.wait_ended(iid, LIFETIME_S + LIFETIME_BACKUP_GRACE_S + 300) == "powered off"
    assert "cml-agent: terminating the instance" not in vm.console(), vm.tail()
    assert cloud.ours() == []

"""On a real booted VM: a launch on each cloud brings its runner ONLINE from nothing but the user-data,
running CLOUD_STARTUP_SCRIPT before Docker and the runner are touched; the sweep ending the instance ends
the VM (issue 15, scenarios 1 and 5; a failing startup script: test_vm_startup_script.py). AWS's launch is
checked the same way at the start of test_vm_idle.py: one boot fewer in CI."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import USER_SCRIPT_ENV, VmCloud, assert_booted_from_its_user_data, launch_online, sweep_away

pytestmark = pytest.mark.vm


@pytest.mark.parametrize("cloud_name", ["gcp", "azure"])
def test_launch_boots_a_vm_from_the_user_data_and_its_runner_comes_online(
    cloud_name: str, vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory(cloud_name)
    up = launch_online(cloud, bitbucket, USER_SCRIPT_ENV)
    assert_booted_from_its_user_data(cloud, up)
    sweep_away(cloud, bitbucket, up)

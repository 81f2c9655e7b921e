"""On a real booted VM: a launch on each cloud brings its runner ONLINE from nothing but the user-data,
running CLOUD_STARTUP_SCRIPT before Docker and the runner are touched; the sweep ending the instance ends
the VM (issue 15, scenarios 1 and 5; a failing startup script: test_vm_startup_script.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import VmCloud, launch_online, sweep_away

from pipe.bootstrap import DEFAULT_RUNNER_IMAGE

pytestmark = pytest.mark.vm

USER_SCRIPT = 'echo "user-script: containers: $(docker ps -q 2>/dev/null | wc -l)" | tee /dev/console'
STEPS = ("prepare", "lifetime-fallback", "agent", "user-startup-script", "docker", "pull-runner-image", "start-runner")


@pytest.mark.parametrize("cloud_name", ["aws", "gcp", "azure"])
def test_launch_boots_a_vm_from_the_user_data_and_its_runner_comes_online(
    cloud_name: str, vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory(cloud_name)
    up = launch_online(cloud, bitbucket, {"LABELS": "cml.vm", "CLOUD_STARTUP_SCRIPT": USER_SCRIPT})
    vm = up.vm
    assert up.runner.oauth_presented == 1
    # The VM booted exactly the user-data the pipe gave the cloud, as the cloud stores it.
    assert (vm.workdir / "seed" / "user-data").read_bytes() == cloud.hooks.boot_payloads()[up.instance_id]
    # A real boot: each step of the script with its duration on the console, and the runner stand-in
    # started by systemd from the image the script found locally under Atlassian's image name.
    vm.wait_for(r"cml-runner: boot done in \d+ ms", 60)
    console = vm.console()
    for step in STEPS:
        assert f"cml-runner: step {step}: done in" in console, vm.tail()
    ran = console.index("user-script: containers: 0")  # no container yet: the runner starts after it
    assert console.index("cml-runner: step user-startup-script: start") < ran
    assert ran < console.index("cml-runner: step docker: start") < console.index("cml-runner: step start-runner: start")
    code, out = vm.run("docker ps --format '{{.Names}} {{.Image}}'; systemctl is-active cml-agent cml-runner")
    assert code == 0, out
    assert f"runner-{up.runner.uuid.strip('{}')} {DEFAULT_RUNNER_IMAGE}" in out, out
    assert out.split()[-2:] == ["active", "active"], out

    sweep_away(cloud, bitbucket, up)

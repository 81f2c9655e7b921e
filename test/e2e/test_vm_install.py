"""On a real booted VM without Docker: the script installs docker.io from Debian's archive (through QEMU's
user networking), then the runner starts and comes ONLINE (issue 15, scenario 6). That boot is slow (the
agent starts minutes before the runner), so it also shows the idle clock waiting for the runner: with an
IDLE_TIMEOUT shorter than the install, the runner still comes ONLINE, and the guest powers itself off only
IDLE_TIMEOUT after the runner said it was ready.

The runner image itself cannot be pulled here (Atlassian's registry is out of reach): the image's test
plumbing loads the stand-in once apt has installed Docker (test/support/fakes/vm/guest/99cml-test-runner-image)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import VmCloud, launch_online

pytestmark = [pytest.mark.vm, pytest.mark.vm_long]  # `make vm-long-test`; not in `make test` (CI time, issue 27)

IDLE_S = 30  # the Docker install alone took 100-130 s under TCG (bench/run.py --vm)


def test_an_image_without_docker_gets_docker_io_then_the_runner_comes_online_and_idles_off_after_it(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("aws", variant="nodocker")
    up = launch_online(cloud, bitbucket, {"IDLE_TIMEOUT": f"{IDLE_S}s", "MAX_LIFETIME": "1h"})
    console = up.vm.console()
    assert "cml-runner: docker not found: installing docker.io from the distribution" in console
    assert "cml-runner: step docker: done in" in console
    code, out = up.vm.run("dpkg-query -W -f '${Status}' docker.io && docker ps --format '{{.Names}}'")
    assert code == 0 and "install ok installed" in out and "runner-" in out, out

    # The agent started before Docker was installed; its idle clock waited for the runner's ONLINE line.
    assert cloud.hypervisor.wait_ended(up.instance_id, 600) == "powered off"
    console = up.vm.console()
    ready = re.search(r"cml-agent: runner is ready (\d+) s after the agent started", console)
    assert ready and int(ready.group(1)) > IDLE_S, up.vm.tail()
    stopping = re.search(r"cml-agent: idle for (\d+) s: stopping the runner", console)
    assert stopping and stopping.start() > ready.start(), up.vm.tail()
    assert console.index("cml-runner: step agent: done") < console.index("cml-runner: step docker: start")
    assert cloud.ours() == []  # AWS: shutdown behaviour terminate

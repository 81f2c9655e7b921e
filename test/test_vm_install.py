"""On a real booted VM without Docker: the script installs docker.io from Debian's archive (through QEMU's
user networking), then the runner starts and comes ONLINE (issue 15, scenario 6).

The runner image itself cannot be pulled here (Atlassian's registry is out of reach): the image's test
plumbing loads the stand-in once apt has installed Docker (test/fakes/vm/guest/99cml-test-runner-image)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_vm import VmCloud, launch_online, sweep_away

pytestmark = pytest.mark.vm


def test_an_image_without_docker_gets_docker_io_then_the_runner_comes_online(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket
) -> None:
    cloud = vm_cloud_factory("aws", variant="nodocker")
    up = launch_online(cloud, bitbucket)
    console = up.vm.console()
    assert "cml-runner: docker not found: installing docker.io from the distribution" in console
    assert "cml-runner: step docker: done in" in console
    code, out = up.vm.run("dpkg-query -W -f '${Status}' docker.io && docker ps --format '{{.Names}}'")
    assert code == 0 and "install ok installed" in out and "runner-" in out, out
    sweep_away(cloud, bitbucket, up)

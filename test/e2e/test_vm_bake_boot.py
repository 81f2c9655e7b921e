"""A bake and a runner from the baked disk, on real booted guests (issue 17 on the real-boot proving ground): the
pipe's own COMMAND: bake against the local AWS (moto) and the hypervisor, from the image without Docker. Its guest
installs docker.io from Debian's archive (the runner stand-in image arrives as a pull would: test_vm_install.py),
clears the instance's state and powers off; the instance stops with its disk, CreateImage makes an image of it and
the hypervisor copies that VM's disk into the image. Then runner mode with CLOUD_IMAGE unset finds the baked image by
itself, and the runner comes ONLINE on a VM booted from the baked disk, installing and pulling nothing.

Behaviour only, never timings: bench/vm_bake.py measures stock against baked (`bench/run.py --vm`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fakes.bitbucket import FakeBitbucket
from fakes.emulated import MakesDiskImages
from fakes.moto import UBUNTU_AMI
from fakes.vm.disk_images import backing_file
from fixtures_pipe import output_lines, run_pipe
from fixtures_vm import VmCloud, launch_online, sweep_away

from pipe.bake.recipe import Recipe
from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE

pytestmark = [pytest.mark.vm, pytest.mark.vm_bake]  # `make vm-long-test`; not in `make test` (CI time)

RECIPE = Recipe(base_image=UBUNTU_AMI, runner_image=DEFAULT_RUNNER_IMAGE, gpu=False).hash
BAKE_S = 1800  # the boot, Docker installed from Debian's archive under TCG, the clean-up and the power-off
INSTALLED = "cml-runner: docker not found: installing docker.io from the distribution"
IMPORTED = "cml-test: runner stand-in image"  # the image's plumbing loading the stand-in: the pull's stand-in
PULL_RETRY = "docker pull failed"


def test_a_runner_boots_from_the_disk_baked_from_the_image_without_docker_and_installs_and_pulls_nothing(
    vm_cloud_factory: Callable[..., VmCloud], bitbucket: FakeBitbucket, ec2: Any
) -> None:
    cloud = vm_cloud_factory("aws", variant="nodocker")
    hv = cloud.hypervisor

    baked = run_pipe({**cloud.env, "COMMAND": "bake"}, timeout=BAKE_S)
    out = "\n".join(output_lines(baked))
    [bake_vm] = list(hv.vms.values())
    assert baked.returncode == 0, out + bake_vm.tail()
    found = re.search(rf"Baked image (ami-\w+) \(cml-baked-{RECIPE}-\d+, recipe {RECIPE}", out)
    assert found, out
    image_id = found.group(1)

    # The bake's guest installed, cleaned and powered off; its instance stopped (disk kept), then the bake deleted it.
    [bake_instance] = list(hv.vms)
    assert hv.ended[bake_instance] == "powered off"
    console = bake_vm.console()
    assert INSTALLED in console and IMPORTED in console, bake_vm.tail()
    assert "cml-runner: step clean: done in" in console and "powering off for the image" in console, bake_vm.tail()
    gone = ec2.describe_instances(InstanceIds=[bake_instance])["Reservations"][0]["Instances"][0]
    assert gone["State"]["Name"] == "terminated"
    # The image: a standalone copy of that VM's disk, bound to the image id CreateImage answered.
    copy = hv.wait_image(image_id, 900)
    assert backing_file(copy) is None
    assert isinstance(cloud.hooks, MakesDiskImages)
    assert cloud.hooks.images_made_from([bake_instance]) == {image_id: bake_instance}

    # Runner mode, CLOUD_IMAGE unset: the baked image is found by its recipe and booted from the baked disk.
    up = launch_online(cloud, bitbucket, {"IDLE_TIMEOUT": "30min", "MAX_LIFETIME": "1h"})
    assert re.search(rf"Plan: image: {image_id} \(cml-baked-{RECIPE}-\d+\), baked from {UBUNTU_AMI} for recipe "
                     rf"{RECIPE}: the boot skips the installs and the pull", up.run.output), up.run.output  # fmt: skip
    launched = ec2.describe_instances(InstanceIds=[up.instance_id])["Reservations"][0]["Instances"][0]
    assert launched["ImageId"] == image_id
    assert backing_file(up.vm.disk) == str(copy)  # an overlay of the baked disk, not of the image without Docker

    up.vm.wait_for(r"cml-runner: boot done in \d+ ms", 120)
    console = up.vm.console()
    assert re.search(rf"cml-runner: baked image: nothing to install or pull \(recipe={RECIPE} gpu=false "
                     r"saved_ms=[1-9]\d*\)", console), up.vm.tail()  # fmt: skip
    # Nothing installed, nothing pulled (Atlassian's registry is out of the guest's reach: a pull would fail).
    for step in (INSTALLED, IMPORTED, PULL_RETRY, "step docker: FAILED", "step pull-runner-image: FAILED"):
        assert step not in console, up.vm.tail()
    # The runner's container runs from the baked image's copy; systemd made the emptied machine id anew.
    code, out = up.vm.run("docker ps --format '{{.Image}}' && test -s /etc/machine-id")
    assert code == 0 and DEFAULT_RUNNER_IMAGE in out, out

    sweep_away(cloud, bitbucket, up)  # the runner's instance goes; the baked image stays, for the next launch
    [kept] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert kept["State"] == "available"

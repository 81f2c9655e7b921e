"""The bake role on a real booted Linux (test/fakes/vm): the image's systemd, cloud-init and Docker run the
bake's script as the cloud would hand it over; it clears the instance's state (cloud-init clean included) and the
guest powers itself off, which is what the bake waits for before it makes the image. One boot, on the image with
Docker and the runner stand-in already there (the install path is the sandboxed tests' and test_vm_install's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.vm.image import ensure_images
from fakes.vm.qemu import Vm

from pipe.bootstrap.render import render_bake_script

pytestmark = [pytest.mark.vm, pytest.mark.vm_bake]  # `make vm-long-test`; not in `make test` (CI time)


def test_the_bake_script_clears_the_instance_state_and_powers_the_real_guest_off(tmp_path: Path) -> None:
    vm = Vm.boot(ensure_images(), "docker", render_bake_script("aws", gpu=False, recipe="0123456789ab",
                                                                deadline_s=1200), tmp_path / "bake")  # fmt: skip
    try:
        vm.wait_exit(timeout=420)
    finally:
        vm.kill()
    console = vm.console()
    assert "cml-runner: step clean: done in" in console, vm.tail()
    assert "cml-runner: bake done in" in console and "powering off for the image" in console
    assert "cml-runner: bake succeeded for recipe " in console  # the line COMMAND: bake waits for (pipe/bake/flow.py)
    assert "FAILED" not in console.split("bake script on aws")[-1], vm.tail()

"""The VM test bed's images made from disks (test/support/fakes/vm/disk_images.py, hypervisor.py), without booting:
qemu-img on small disks, and the hypervisor's loop with QEMU's start replaced by a stand-in whose guest powers
off at once. The bake on real guests is test_vm_bake_boot.py (`make vm-long-test`)."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from fakes.vm import hypervisor as hypervisor_module
from fakes.vm.disk_images import DiskImages, backing_file
from fakes.vm.hypervisor import Hypervisor
from fakes.vm.image import Images
from fakes.vm.qemu import Vm, VmError

pytestmark = pytest.mark.vm  # needs qemu-utils, as the rest of the bed

BAKED = 0xAB  # what the bake's guest wrote to its disk
BASE = 0x11  # what the variant's image holds


def qemu_io(disk: Path, fmt: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(disk)], capture_output=True, text=True)


def base_image(directory: Path) -> Images:
    images = Images(directory)
    directory.mkdir(parents=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(images.disk("nodocker")), "4M"], check=True)
    assert qemu_io(images.disk("nodocker"), "raw", f"write -P {BASE:#x} 0 1M").returncode == 0
    return images


def ended_vm(workdir: Path, backing: Path, backing_format: str, *, write: bool) -> Vm:
    """A VM whose guest has powered off: its overlay disk as Vm.boot makes it (written to, as a bake's guest does)."""
    workdir.mkdir(parents=True, exist_ok=True)
    disk = workdir / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", backing_format, str(disk)], check=True
    )
    if write:
        assert qemu_io(disk, "qcow2", f"write -P {BAKED:#x} 1M 64k").returncode == 0
    process = subprocess.Popen(["true"])
    process.wait()
    return Vm(workdir.name, workdir, process, time.time(), "tcg", Path(tempfile.mkdtemp(prefix="cml-vm-")))


def test_an_image_is_a_standalone_copy_of_the_ended_vms_disk_that_outlives_it(tmp_path: Path) -> None:
    images = base_image(tmp_path / "base")
    vm = ended_vm(tmp_path / "vm", images.disk("nodocker"), "raw", write=True)
    made = DiskImages(tmp_path / "made")
    copy = made.capture("ami-0123456789abcdef0", vm)

    assert made.disk("ami-0123456789abcdef0") == copy and made.disk("ami-other") is None
    assert backing_file(vm.disk) == str(images.disk("nodocker"))  # the VM's disk: an overlay
    assert backing_file(copy) is None  # the image: standalone
    vm.disk.unlink()
    images.disk("nodocker").unlink()  # the instance and the test image gone: the image still holds both layers
    assert qemu_io(copy, "qcow2", f"read -P {BAKED:#x} 1M 64k").returncode == 0
    assert qemu_io(copy, "qcow2", f"read -P {BASE:#x} 0 1M").returncode == 0
    assert not list(made.directory.glob("*.partial"))


def test_a_running_vms_disk_is_never_copied(tmp_path: Path) -> None:
    images = base_image(tmp_path / "base")
    vm = ended_vm(tmp_path / "vm", images.disk("nodocker"), "raw", write=False)
    vm.process = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(VmError, match="still runs"):
            DiskImages(tmp_path / "made").capture("ami-0123456789abcdef0", vm)
    finally:
        vm.process.kill()
        vm.process.wait()
    assert not (tmp_path / "made" / "ami-0123456789abcdef0.qcow2").exists()


class BakingCloud:
    """An emulated cloud (fakes/emulated.py, MakesDiskImages) where a bake's instance stops at power-off, an image is
    made of it, then a runner is launched from that image and another from the base image."""

    name = "aws"

    def __init__(self) -> None:
        self.running: dict[str, str] = {"i-bake": "ami-base"}  # instance -> the image it was launched from
        self.stopped: list[str] = []
        self.images: dict[str, str] = {}  # image id -> source instance

    def boot_payloads(self) -> dict[str, bytes]:
        return {iid: b"#!/bin/bash\ntrue\n" for iid in self.running}

    def power_off(self, instance_id: str) -> None:
        del self.running[instance_id]
        self.stopped.append(instance_id)

    def images_made_from(self, instance_ids: Collection[str]) -> dict[str, str]:
        return {image: iid for image, iid in self.images.items() if iid in instance_ids}

    def launched_from(self, instance_ids: Collection[str]) -> dict[str, str]:
        return {iid: image for iid, image in self.running.items() if iid in instance_ids}


def test_an_instance_launched_from_an_image_of_a_vms_disk_boots_an_overlay_of_its_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = base_image(tmp_path / "base")
    booted: dict[str, Path | None] = {}

    def boot(images: Images, variant: str, user_data: bytes, workdir: Path, **kw: Any) -> Vm:
        base_disk = kw["base_disk"]
        booted[workdir.name] = base_disk
        backing, fmt = (base_disk, "qcow2") if base_disk else (images.disk(variant), "raw")
        return ended_vm(workdir, backing, fmt, write=workdir.name == "i-bake")  # each guest powers off at once

    monkeypatch.setattr(hypervisor_module.Vm, "boot", boot)
    cloud = BakingCloud()
    with Hypervisor(cloud, images, tmp_path / "vms", "http://127.0.0.1:9", variant="nodocker", poll_s=0.05) as hv:
        assert hv.wait_ended("i-bake", 10) == "powered off"
        assert cloud.stopped == ["i-bake"]
        cloud.images["ami-baked"] = "i-bake"  # CreateImage of the stopped instance
        cloud.running.update({"i-runner": "ami-baked", "i-stock": "ami-base"})
        hv.wait_ended("i-runner", 10)
        hv.wait_ended("i-stock", 10)
    assert hv.errors == []
    copy = hv.wait_image("ami-baked", 1)
    assert copy is not None and backing_file(copy) is None
    assert booted == {"i-bake": None, "i-runner": copy, "i-stock": None}
    assert backing_file(hv.vms["i-runner"].disk) == str(copy)
    assert qemu_io(hv.vms["i-runner"].disk, "qcow2", f"read -P {BAKED:#x} 1M 64k").returncode == 0
    assert qemu_io(hv.vms["i-stock"].disk, "qcow2", f"read -P {BAKED:#x} 1M 64k").returncode != 0  # not the bake's


def test_an_image_whose_disk_could_not_be_copied_boots_nothing_and_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = base_image(tmp_path / "base")

    def boot(images: Images, variant: str, user_data: bytes, workdir: Path, **kw: Any) -> Vm:
        vm = ended_vm(workdir, images.disk(variant), "raw", write=False)
        vm.disk.unlink()  # the disk lost: qemu-img convert fails
        return vm

    monkeypatch.setattr(hypervisor_module.Vm, "boot", boot)
    cloud = BakingCloud()
    with Hypervisor(cloud, images, tmp_path / "vms", "http://127.0.0.1:9", variant="nodocker", poll_s=0.05) as hv:
        hv.wait_ended("i-bake", 10)
        cloud.images["ami-baked"] = "i-bake"
        cloud.running["i-runner"] = "ami-baked"
        assert hv.wait_ended("i-runner", 10) == "failed"
        with pytest.raises(VmError, match="no disk copy for image ami-baked"):
            hv.wait_image("ami-baked", 10)
    assert "i-runner" not in hv.vms
    assert len(hv.errors) == 2, hv.errors
    assert "image ami-baked: qemu-img convert" in hv.errors[0]
    assert "i-runner: launched from image ami-baked, whose disk could not be copied" in hv.errors[1]


def test_the_local_aws_says_which_instance_an_image_was_made_from_and_what_each_instance_was_launched_from(
    ec2: Any,
) -> None:
    from fakes.aws import FakeAws
    from fakes.emulated import MakesDiskImages
    from fakes.moto import UBUNTU_AMI

    def launch(image: str) -> str:
        answer = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                   InstanceInitiatedShutdownBehavior="stop")  # fmt: skip
        return str(answer["Instances"][0]["InstanceId"])

    aws = FakeAws(ec2)
    assert isinstance(aws, MakesDiskImages)
    baked_from, other = launch(UBUNTU_AMI), launch(UBUNTU_AMI)
    ec2.stop_instances(InstanceIds=[baked_from])
    image = ec2.create_image(InstanceId=baked_from, Name="cml-baked-0123456789ab-1")["ImageId"]
    ec2.terminate_instances(InstanceIds=[baked_from])  # the bake deletes its instance: the image still says whose
    assert aws.images_made_from([baked_from, other]) == {image: baked_from}
    assert aws.images_made_from([other]) == {} and aws.images_made_from([]) == {}
    runner = launch(image)
    assert aws.launched_from([runner, other]) == {runner: image, other: UBUNTU_AMI}

"""The VM test bed itself (test/support/fakes/vm): deep test directories, and QEMU failing to start, which must be
reported as an error of the bed, never taken for a guest powering off (which would end the instance)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakes.vm.hypervisor import Hypervisor
from fakes.vm.image import Images
from fakes.vm.qemu import Vm

pytestmark = pytest.mark.vm


def test_a_vm_boots_from_a_directory_deeper_than_a_unix_socket_path_allows(vm_images: Images, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)  # > 108 bytes with the socket names: QEMU refused such paths
    vm = Vm.boot(vm_images, "docker", "#!/bin/bash\ntrue\n", deep, name="deep")
    try:
        time.sleep(3)
        assert vm.alive and vm.start_error() is None, (deep / "qemu.log").read_text()
        assert len(str(vm.sockets / "shell.sock")) < 108
    finally:
        vm.kill()
    assert not vm.sockets.exists()


class OneInstance:
    name = "aws"

    def __init__(self) -> None:
        self.powered_off_ids: list[str] = []

    def boot_payloads(self) -> dict[str, bytes]:
        return {"i-0123456789abcdef0": b"#!/bin/bash\ntrue\n"}

    def power_off(self, instance_id: str) -> None:
        self.powered_off_ids.append(instance_id)


def test_qemu_failing_to_start_is_an_error_not_a_power_off(tmp_path: Path) -> None:
    broken = Images(tmp_path / "images")  # no kernel: QEMU exits 1 at once
    broken.root.mkdir()
    broken.disk("docker").write_bytes(b"\0" * 1024 * 1024)
    cloud = OneInstance()
    hypervisor = Hypervisor(cloud, broken, tmp_path / "vms", "http://127.0.0.1:9", poll_s=0.1)
    with hypervisor:
        assert hypervisor.wait_ended("i-0123456789abcdef0", 30) == "failed"
    assert cloud.powered_off_ids == []
    [error] = hypervisor.errors
    assert "QEMU for i-0123456789abcdef0 exited 1" in error

"""Starting moto_server for tests and the demo, with the AMIs a current Ubuntu launch needs.

moto ships only old Ubuntu images, so the server starts with MOTO_AMIS_PATH
pointing at the images the pipe looks up by default (and validation on, so a
bad AMI or instance type fails as on AWS). See TESTING-NOTES.md.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

UBUNTU_AMI = "ami-0ubuntu2404noble0001"
UBUNTU_AMI_OLD = "ami-0ubuntu2404noble0000"
GPU_AMI = "ami-0dlbasegpu24040001"
CUSTOM_AMI = "ami-0customtraining001"

AMIS = [
    {
        "ami_id": UBUNTU_AMI_OLD,
        "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20250101",
        "owner_id": "099720109477",
        "creation_date": "2025-01-01T00:00:00.000Z",
    },
    {
        "ami_id": UBUNTU_AMI,
        "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101",
        "owner_id": "099720109477",
        "creation_date": "2026-11-01T00:00:00.000Z",
    },
    {
        "ami_id": GPU_AMI,
        "name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261101",
        "owner_id": "898082745236",
        "creation_date": "2026-11-01T00:00:00.000Z",
    },
    {
        "ami_id": CUSTOM_AMI,
        "name": "acme-training-image-2026",
        "owner_id": "123456789012",
        "creation_date": "2026-10-01T00:00:00.000Z",
    },
]


# Root snapshot sizes EC2 reports for these AMIs (moto says 15 GB for all); the fault proxy enforces them.
# Canonical's Ubuntu server AMIs have 8 GB root snapshots; the Deep Learning Base GPU AMIs about 100 GB (the EC2
# console's recommended size for them, aws/deep-learning-containers#2425).
AMI_ROOT_GB = {UBUNTU_AMI_OLD: 8, UBUNTU_AMI: 8, GPU_AMI: 100, CUSTOM_AMI: 60}


def _ami(entry: dict[str, str]) -> dict[str, object]:
    return {
        **entry,
        "state": "available",
        "public": True,
        "image_location": f"{entry['owner_id']}/{entry['name']}",
        "sriov": "simple",
        "root_device_type": "ebs",
        "root_device_name": "/dev/sda1",
        "description": entry["name"],
        "image_type": "machine",
        "platform": None,
        "architecture": "x86_64",
        "virtualization_type": "hvm",
        "hypervisor": "xen",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.mkdtemp(prefix="moto-amis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> MotoServer:
        amis = Path(self._dir) / "amis.json"
        amis.write_text(json.dumps([_ami(a) for a in AMIS]))
        env = {
            **os.environ,
            "MOTO_AMIS_PATH": str(amis),
            "MOTO_ENABLE_AMI_VALIDATION": "true",
            "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
            "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
        }
        binary = Path(sys.executable).with_name("moto_server")
        command = [str(binary)] if binary.exists() else [sys.executable, "-m", "moto.server"]
        self._process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not start")

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        shutil.rmtree(self._dir, ignore_errors=True)

"""The local hypervisor: beside an emulated cloud, it boots a real VM for each instance the pipe launches.

    with Hypervisor(FakeAws(ec2), images, workdir, bitbucket_root_url) as hv:   # any EmulatedCloud
        ...run the pipe...
        vm = hv.wait_booted(instance_id, timeout=60)     # the Vm (console, run, reset)

Every poll_s it compares the cloud's running instances of ours with the VMs it runs:
- a new instance boots from exactly the user-data the pipe gave the cloud (NoCloud seed);
- an instance the pipe, the sweep or a rollback terminated (or stopped) has its VM killed;
- a VM whose guest powered itself off ends its instance as that cloud would (EmulatedCloud.power_off);
- on a cloud that makes images of disks (MakesDiskImages: COMMAND: bake's CreateImage of a stopped instance), the
  disk of that instance's ended VM is copied once into a standalone image (disk_images.py), and an instance
  launched from that image boots a copy-on-write overlay of the copy instead of the variant's image.
The local Bitbucket's address reaches the runner stand-in on the kernel command line, never in the
user-data: the guest sees the host's 127.0.0.1 as 10.0.2.2.
"""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fakes.emulated import EmulatedCloud, MakesDiskImages
from fakes.vm.disk_images import DiskImages
from fakes.vm.image import Images
from fakes.vm.qemu import HOST_FROM_GUEST, Vm, VmError


def guest_url(host_url: str) -> str:
    """http://127.0.0.1:PORT as the guest reaches it through QEMU's user networking."""
    parts = urllib.parse.urlsplit(host_url)
    return parts._replace(netloc=f"{HOST_FROM_GUEST}:{parts.port}").geturl()


@dataclass
class Hypervisor:
    cloud: EmulatedCloud
    images: Images
    workdir: Path
    bitbucket_url: str  # the local Bitbucket's root URL on the host (http://127.0.0.1:PORT)
    variant: str = "docker"  # the image every instance boots: 'docker' or 'nodocker'
    poll_s: float = 0.5
    memory_mb: int = 2048
    vms: dict[str, Vm] = field(default_factory=dict)
    user_data: dict[str, bytes] = field(default_factory=dict)  # what each VM booted, for assertions
    ended: dict[str, str] = field(default_factory=dict)  # instance id -> 'powered off' | 'killed' | 'failed'
    errors: list[str] = field(default_factory=list)
    # (instance id, console text) -> None: where a powered-off guest's serial console goes, for a cloud API that
    # serves it (the AWS fault proxy's GetConsoleOutput, the local GCP's serial port): COMMAND: bake reads it there.
    console_sink: Callable[[str, str], None] | None = None
    disk_images: DiskImages = field(init=False)  # images made from ended VMs' disks, under workdir/images
    _captured: set[str] = field(default_factory=set)  # image ids copied, or tried once and failed (an error)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.disk_images = DiskImages(self.workdir / "images")

    def start(self) -> Hypervisor:
        self._thread = threading.Thread(target=self._loop, name="hypervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and kill every VM still running."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            for vm in self.vms.values():
                vm.kill()

    def __enter__(self) -> Hypervisor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries for tests
    def wait_booted(self, instance_id: str | None = None, timeout: float = 60) -> Vm:
        """The VM of instance_id (or the first VM booted), once it exists."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if instance_id is None and self.vms:
                    return next(iter(self.vms.values()))
                if instance_id is not None and instance_id in self.vms:
                    return self.vms[instance_id]
            time.sleep(0.2)
        raise VmError(f"no VM booted for {instance_id or 'any instance'} within {timeout:.0f}s; errors: {self.errors}")

    def wait_ended(self, instance_id: str, timeout: float) -> str:
        """How the instance's VM ended ('powered off' by its guest, or 'killed' by the hypervisor)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if instance_id in self.ended:
                    return self.ended[instance_id]
            time.sleep(0.2)
        vm = self.vms.get(instance_id)
        raise VmError(f"the VM of {instance_id} is still running after {timeout:.0f}s" + (vm.tail() if vm else ""))

    def wait_image(self, image_id: str, timeout: float) -> Path:
        """The copy of the disk the image was made from, once made. The emulated cloud says the image is available
        at once; the copy comes a tick later, and a launch from the image before then boots once it is made."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            made = self.disk_images.disk(image_id)
            if made is not None:
                return made
            if image_id in self._captured:
                break  # tried, and failed: see errors
            time.sleep(0.2)
        raise VmError(f"no disk copy for image {image_id} within {timeout:.0f}s; errors: {self.errors}")

    def running_vms(self) -> list[str]:
        with self._lock:
            return [iid for iid, vm in self.vms.items() if vm.alive]

    # ------------------------------------------------------------------ the loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as e:  # noqa: BLE001 - the emulated cloud may be resetting; note it, go on
                self.errors.append(f"{type(e).__name__}: {e}")
            self._stop.wait(self.poll_s)

    def _tick(self) -> None:
        self._capture_images()  # first: an instance launched from a new image boots from its copy
        running = self.cloud.boot_payloads()
        with self._lock:
            new = [iid for iid in running if iid not in self.vms and iid not in self.ended]
            origins = self.cloud.launched_from(new) if new and isinstance(self.cloud, MakesDiskImages) else {}
            for iid in new:
                self._boot(iid, running[iid], origins.get(iid, ""))
            for iid, vm in list(self.vms.items()):
                if iid in self.ended:
                    continue
                if not vm.alive:
                    failed = vm.start_error()
                    if failed:  # QEMU itself could not run: an error of the test bed, not a power-off
                        self.ended[iid] = "failed"
                        self.errors.append(failed)
                        continue
                    self.ended[iid] = "powered off"  # the guest powered off
                    if self.console_sink is not None:
                        self.console_sink(iid, vm.console())
                    self.cloud.power_off(iid)
                elif iid not in running:  # terminated or stopped through the cloud's API
                    vm.kill()
                    self.ended[iid] = "killed"

    def _capture_images(self) -> None:
        """Copy the disk of each ended VM the cloud made a new image of (the VM's guest powered off: the instance
        stopped). A cloud snapshots the volume when CreateImage is called; a powered-off VM's disk no longer
        changes, so a copy made a tick later holds the same bytes."""
        if not isinstance(self.cloud, MakesDiskImages):
            return
        with self._lock:
            ended = {iid: vm for iid, vm in self.vms.items() if self.ended.get(iid) == "powered off"}
        if not ended:
            return
        for image_id, iid in self.cloud.images_made_from(ended).items():
            if image_id in self._captured:
                continue
            try:
                self.disk_images.capture(image_id, ended[iid])
            except (VmError, OSError, subprocess.SubprocessError) as e:
                self.errors.append(str(e))
            self._captured.add(image_id)  # after the attempt: wait_image() tells copying from failed by it

    def _boot(self, instance_id: str, user_data: bytes, image_id: str) -> None:
        safe = instance_id.replace("/", "_")
        self.user_data[instance_id] = user_data
        base_disk = self.disk_images.disk(image_id)
        if base_disk is None and image_id in self._captured:  # made from one of our VMs, but its copy failed
            self.ended[instance_id] = "failed"
            self.errors.append(f"{instance_id}: launched from image {image_id}, whose disk could not be copied")
            return
        self.vms[instance_id] = Vm.boot(
            self.images,
            self.variant,
            user_data,
            self.workdir / safe,
            name=safe,
            kernel_args={"cml.test.bitbucket": guest_url(self.bitbucket_url)},
            memory_mb=self.memory_mb,
            base_disk=base_disk,
        )

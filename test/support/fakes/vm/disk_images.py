"""Machine images made from VMs' disks, as a cloud's CreateImage makes them (COMMAND: bake on the proving ground).

    made = DiskImages(workdir / "images")
    made.capture("ami-0abc...", vm)     # the stopped VM's disk -> <dir>/ami-0abc....qcow2, standalone
    made.disk("ami-0abc...")            # that file, for Vm.boot(..., base_disk=...); None for any other image

A capture is a full copy (`qemu-img convert`), not an overlay: the VM's disk is itself an overlay of the cached
test image, and a cloud's image outlives the instance it was made from (the bake deletes it). Each instance
launched from the image then boots a copy-on-write overlay of the copy, so the image itself never changes.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fakes.vm.qemu import Vm, VmError

CAPTURE_TIMEOUT_S = 900.0  # a few GB copied on a loaded 2-core machine


@dataclass
class DiskImages:
    directory: Path
    made: dict[str, Path] = field(default_factory=dict)  # image id -> its standalone qcow2

    def capture(self, image_id: str, vm: Vm) -> Path:
        """Copy the disk of vm (which must have ended: a cloud snapshots a stopped instance's volume) into a
        standalone qcow2 bound to image_id."""
        if vm.alive:
            raise VmError(f"image {image_id}: the VM {vm.name} still runs; only a stopped VM's disk is copied")
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{image_id}.qcow2"
        partial = target.with_name(target.name + ".partial")  # never seen as the image until it is whole
        done = subprocess.run(
            ["qemu-img", "convert", "-q", "-O", "qcow2", str(vm.disk), str(partial)],
            capture_output=True, text=True, timeout=CAPTURE_TIMEOUT_S,
        )  # fmt: skip
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise VmError(f"image {image_id}: qemu-img convert of {vm.disk} failed: {done.stderr.strip()[-300:]}")
        partial.rename(target)
        self.made[image_id] = target
        return target

    def disk(self, image_id: str) -> Path | None:
        return self.made.get(image_id)


def backing_file(disk: Path) -> str | None:
    """The file a qcow2 depends on (None for a standalone one), as qemu-img reads it."""
    info = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(disk)], capture_output=True, text=True, check=True
    )
    value = json.loads(info.stdout).get("backing-filename")
    return str(value) if value else None

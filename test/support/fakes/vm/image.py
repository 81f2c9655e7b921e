"""The test VM images: Debian bookworm built with mmdebstrap, cached outside the repository by recipe hash.

    images = ensure_images()          # builds on first use (about 5 min), then returns at once
    images.disk("docker")             # raw ext4 root: Docker + the runner stand-in image pre-loaded
    images.disk("nodocker")           # the same without Docker: the startup script installs docker.io
    images.kernel, images.initrd      # booted directly by QEMU (no bootloader)

Two cached stages under ${XDG_CACHE_HOME:-~/.cache}/cml-runner-pipe/vm/ (CML_VM_CACHE overrides):
- rootfs-<hash>: one mmdebstrap run gives the base root (what matters of an Ubuntu cloud image: systemd,
  cloud-init, dbus, apparmor, python3, curl, a kernel and initramfs) and, through a hook, the same root plus
  docker.io; a second run gives the runner stand-in's root (Debian essential + python3).
- images-<hash>: each root plus the test plumbing (guest/), made into an ext4 disk with mkfs.ext4 -d (no
  loop device, no mount); then one provisioning boot imports the runner stand-in into the Docker image's
  Docker under the exact name of Atlassian's runner image.
Each hash covers its recipe and the files it copies, so any change rebuilds only what it affects. A file
lock lets parallel test workers share one build.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE

HERE = Path(__file__).resolve().parent
GUEST = HERE / "guest"
RUNNER_SOURCE = HERE / "runner" / "runner.py"
VARIANTS = ("docker", "nodocker")
DISK_SIZE = "6G"  # sparse; room for Docker images and a step's files
PROVISION_TIMEOUT_S = 600.0

# What an Ubuntu cloud image has that the startup script and the runner rely on (dbus and logind for
# `shutdown`, apparmor for Docker's default profile, curl, python3 for the agent), on Debian's archive.
BASE_PACKAGES = (
    "systemd-sysv", "dbus", "cloud-init", "linux-image-amd64", "initramfs-tools", "udev", "kmod", "iproute2",
    "ifupdown", "isc-dhcp-client", "netbase", "python3", "ca-certificates", "curl", "apparmor", "procps",
    "e2fsprogs", "gzip",
)  # fmt: skip
DOCKER_PACKAGES = ("docker.io",)
RUNNER_PACKAGES = ("python3",)
SLIM = tuple(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("man", "doc", "locale", "info"))
ROOTFS_RECIPE = {
    "suite": "bookworm",
    "base": BASE_PACKAGES,
    "docker": DOCKER_PACKAGES,
    "runner": RUNNER_PACKAGES,
    "slim": SLIM,
    "version": 1,
}

PROVISION_USER_DATA = """#!/bin/bash
# Image build only: load the runner stand-in into Docker, leave no trace of this boot, power off.
set -eux
/usr/local/lib/cml-test/load-runner-image
docker image inspect "$(cat /var/lib/cml-test/runner-image-name)" >/dev/null
truncate -s 0 /etc/machine-id
rm -rf /var/lib/cloud/instances/* /var/log/cloud-init*.log
echo "cml-test: provisioned"
systemctl poweroff
"""


def cache_root() -> Path:
    override = os.environ.get("CML_VM_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cml-runner-pipe" / "vm"


@dataclass(frozen=True)
class Images:
    root: Path

    @property
    def kernel(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.root / "initrd.img"

    def disk(self, variant: str) -> Path:
        if variant not in VARIANTS:
            raise ValueError(f"image variant must be one of {', '.join(VARIANTS)}, not {variant!r}")
        return self.root / f"{variant}.img"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def rootfs_hash() -> str:
    return _digest(json.dumps(ROOTFS_RECIPE, sort_keys=True).encode())


def images_hash() -> str:
    files = sorted(p for p in GUEST.rglob("*") if p.is_file())
    parts = [rootfs_hash().encode(), DEFAULT_RUNNER_IMAGE.encode(), PROVISION_USER_DATA.encode(), DISK_SIZE.encode()]
    parts += [p.name.encode() + b"\0" + p.read_bytes() for p in files]
    parts.append(RUNNER_SOURCE.read_bytes())
    parts.append(Path(__file__).read_bytes())
    return _digest(*parts)


def images_ready() -> bool:
    """True when the images of this recipe are built (no lock taken, nothing built)."""
    return (cache_root() / f"images-{images_hash()}" / "DONE").exists()


def ensure_images(log: Callable[[str], None] = print) -> Images:
    """The cached images, built first if this recipe has never been built here."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test worker may be building: wait for it
        images = Images(root / f"images-{images_hash()}")
        if (images.root / "DONE").exists():
            return images
        rootfs = root / f"rootfs-{rootfs_hash()}"
        if not (rootfs / "DONE").exists():
            _prune(root, "rootfs-", keep=rootfs)
            _build_rootfs(rootfs, log)
        _prune(root, "images-", keep=images.root)
        _build_images(rootfs, images, log)
        return images


def _prune(root: Path, prefix: str, keep: Path) -> None:
    for old in root.glob(prefix + "*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _run(argv: list[str], log_file: Path, timeout_s: float = 1800) -> None:
    """argv with its output in log_file; bounded, so a stalled download fails the build instead of the tests
    waiting on its lock for ever."""
    with log_file.open("ab") as out:
        out.write(("\n$ " + " ".join(argv) + "\n").encode())
        out.flush()
        try:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout_s, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{argv[0]} did not finish within {timeout_s:.0f} s; see {log_file}") from None
    if done.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{argv[0]} failed (exit {done.returncode}); see {log_file}:\n{tail}")


def _build_rootfs(rootfs: Path, log: Callable[[str], None]) -> None:
    missing = [tool for tool in ("mmdebstrap", "mkfs.ext4", "genisoimage", "qemu-img", "qemu-system-x86_64")
               if shutil.which(tool) is None]  # fmt: skip
    if missing:
        raise RuntimeError(
            f"missing {', '.join(missing)}: apt-get install -y --no-install-recommends qemu-system-x86 qemu-utils "
            "mmdebstrap cloud-image-utils (as .ci/run does)"
        )
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.mkdir(parents=True)
    build_log = rootfs / "build.log"
    started = time.monotonic()
    log(f"building the VM root filesystems with mmdebstrap (once per recipe; log: {build_log})")
    # One run: the hook copies the base root before Docker is added, so both share one package download.
    _run([
        "mmdebstrap", "--variant=minbase", "--mode=root", "--include=" + ",".join(BASE_PACKAGES), *SLIM,
        f'--customize-hook=cp -ax "$1" {rootfs / "nodocker"}',
        '--customize-hook=chroot "$1" apt-get install -y --no-install-recommends ' + " ".join(DOCKER_PACKAGES),
        '--customize-hook=chroot "$1" apt-get clean',
        str(ROOTFS_RECIPE["suite"]), str(rootfs / "docker"),
    ], build_log)  # fmt: skip
    _run(["chroot", str(rootfs / "nodocker"), "apt-get", "clean"], build_log)
    _run([
        "mmdebstrap", "--variant=essential", "--mode=root", "--include=" + ",".join(RUNNER_PACKAGES), *SLIM,
        str(ROOTFS_RECIPE["suite"]), str(rootfs / "runner-rootfs.tar"),
    ], build_log)  # fmt: skip
    (rootfs / "DONE").write_text(f"{time.monotonic() - started:.0f} s\n")
    log(f"root filesystems built in {time.monotonic() - started:.0f} s")


# Never used by the stand-in, half of the root (perl alone is 53 MB): left out, so importing the image into
# Docker under emulation takes half as long.
RUNNER_LEFT_OUT = re.compile(
    r"^\./usr/(share/perl|lib/x86_64-linux-gnu/(perl|libperl|gconv)|bin/perl|share/(doc|man|locale|zoneinfo|i18n))"
    r"|^\./usr/lib/python3\.11/(test|ensurepip|idlelib|lib2to3|pydoc_data|tkinter|turtledemo)/"
    r"|^\./var/cache/"
)


def _runner_tar(rootfs: Path, target: Path) -> None:
    """The runner stand-in image's filesystem: Debian essential + python3 (trimmed), plus runner.py."""
    with tarfile.open(rootfs / "runner-rootfs.tar") as source, tarfile.open(target, "w") as tar:
        for member in source:
            if RUNNER_LEFT_OUT.match(member.name):
                continue
            tar.addfile(member, source.extractfile(member) if member.isreg() else None)
        tar.add(str(RUNNER_SOURCE), arcname="./opt/runner/runner.py")


def _install_plumbing(root: Path, runner_tar: Path) -> None:
    def put(relative: str, source: Path | None = None, text: str | None = None, mode: int = 0o644) -> None:
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source is not None:
            shutil.copyfile(source, target)
        else:
            target.write_text(text or "")
        target.chmod(mode)

    put("etc/fstab", text="/dev/vda / ext4 defaults 0 1\n")
    put("etc/hostname", text="cml-test\n")
    put("etc/network/interfaces", GUEST / "interfaces")
    put("etc/cloud/cloud.cfg.d/90-cml-test.cfg", GUEST / "90-cml-test.cfg")
    put("etc/apt/apt.conf.d/99cml-test-runner-image", GUEST / "99cml-test-runner-image")
    put("usr/local/lib/cml-test/cml-test-shell.py", GUEST / "cml-test-shell.py", mode=0o755)
    put("usr/local/lib/cml-test/load-runner-image", GUEST / "load-runner-image", mode=0o755)
    put("etc/systemd/system/cml-test-shell.service", GUEST / "cml-test-shell.service")
    wants = root / "etc/systemd/system/multi-user.target.wants/cml-test-shell.service"
    wants.parent.mkdir(parents=True, exist_ok=True)
    wants.unlink(missing_ok=True)
    wants.symlink_to("/etc/systemd/system/cml-test-shell.service")
    put("var/lib/cml-test/runner-image-name", text=DEFAULT_RUNNER_IMAGE + "\n")
    shutil.copyfile(runner_tar, root / "var/lib/cml-test/runner.tar")


def _build_images(rootfs: Path, images: Images, log: Callable[[str], None]) -> None:
    from fakes.vm.qemu import Vm

    shutil.rmtree(images.root, ignore_errors=True)
    images.root.mkdir(parents=True)
    build_log = images.root / "build.log"
    started = time.monotonic()
    boot = rootfs / "docker" / "boot"
    shutil.copyfile(next(boot.glob("vmlinuz-*")), images.kernel)
    shutil.copyfile(next(boot.glob("initrd.img-*")), images.initrd)
    with tempfile.TemporaryDirectory(dir=images.root) as tmp:
        runner_tar = Path(tmp) / "runner.tar"
        _runner_tar(rootfs, runner_tar)
        for variant in VARIANTS:
            work = Path(tmp) / variant
            _run(["cp", "-a", str(rootfs / variant), str(work)], build_log)
            _install_plumbing(work, runner_tar)
            _run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(work), str(images.disk(variant)), DISK_SIZE],
                 build_log)  # fmt: skip
            shutil.rmtree(work)
    log(f"disks made in {time.monotonic() - started:.0f} s; provisioning boot (runner stand-in into Docker)")
    workdir = images.root / "provision"
    vm = Vm.boot(images, "docker", PROVISION_USER_DATA, workdir, name="provision")
    try:
        vm.wait_for(r"cml-test: provisioned", PROVISION_TIMEOUT_S)
        vm.wait_exit(120)
    finally:
        vm.kill()
    _run(["qemu-img", "commit", "-q", str(workdir / "disk.qcow2")], build_log)
    shutil.copyfile(vm.console_path, images.root / "provision-console.log")
    shutil.rmtree(workdir)
    (images.root / "DONE").write_text(f"{time.monotonic() - started:.0f} s\n")
    log(f"VM images ready in {time.monotonic() - started:.0f} s: {images.root}")


if __name__ == "__main__":
    print(ensure_images().root)

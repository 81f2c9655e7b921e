"""One test VM: QEMU booting a test image from a NoCloud seed, with its console log, a QMP socket (reset,
power) and the image's command channel. Used by the image build, the hypervisor, tests, demo and bench.

    vm = Vm.boot(images, "docker", user_data, workdir, kernel_args={"cml.test.bitbucket": url})
    vm.wait_for(r"cml-runner: boot done", timeout=300)   # reads the serial console log
    vm.run("docker ps")                                   # -> (exit status, output), inside the guest
    vm.reset()                                            # QEMU's system_reset (a hard reboot)
    vm.kill()                                             # the host pulls the plug
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes.vm.image import Images

QEMU = "qemu-system-x86_64"
SHELL_PORT = "org.cml.test.0"
HOST_FROM_GUEST = "10.0.2.2"  # QEMU user networking: the host's loopback as the guest sees it
KVM_PROBE_S = 10.0
DISK = "disk.qcow2"  # in the VM's workdir: its copy-on-write overlay, kept after the VM ends


class VmError(Exception):
    """The VM did not do what a test waited for; the message ends with the console's tail."""


@dataclass
class Vm:
    name: str
    workdir: Path
    process: subprocess.Popen[bytes]
    started_at: float  # time.time() just before QEMU started
    accel: str
    sockets: Path  # a short directory for the QMP and channel sockets (a UNIX socket path has < 108 bytes)
    _shell: socket.socket | None = None
    _shell_buffer: bytes = b""
    _shell_lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 0

    # ------------------------------------------------------------------ start
    @classmethod
    def boot(
        cls,
        images: Images,
        variant: str,
        user_data: bytes | str,
        workdir: Path,
        *,
        name: str = "vm",
        extra_files: Mapping[str, bytes] | None = None,
        kernel_args: Mapping[str, str] | None = None,
        memory_mb: int = 2048,
        cpus: int = 2,
        base_disk: Path | None = None,
    ) -> Vm:
        """Boot a copy-on-write clone of the image `variant` ('docker' or 'nodocker'), or of base_disk (a qcow2
        made from a VM's disk, vm/disk_images.py), with this user-data (bytes as given: gzip is undone by
        cloud-init, as on a cloud). extra_files land on the seed beside it (the guest sees them under
        /run/cml-test/seed/); kernel_args are appended as key=value."""
        workdir.mkdir(parents=True, exist_ok=True)
        backing = ["-b", str(base_disk), "-F", "qcow2"] if base_disk else ["-b", str(images.disk(variant)), "-F", "raw"]
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *backing, str(workdir / DISK)], check=True)
        seed = make_seed(workdir / "seed", user_data, name, extra_files or {})
        # Test directories are deep (pytest's tmp_path): the sockets go where their path stays short.
        sockets = Path(tempfile.mkdtemp(prefix="cml-vm-"))
        args = " ".join(f"{k}={v}" for k, v in (kernel_args or {}).items())
        accel = accelerator(images)
        argv = [
            QEMU, "-accel", accel, "-cpu", "max" if accel == "tcg" else "host", "-smp", str(cpus),
            "-m", str(memory_mb), "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", f"file:{workdir / 'console.log'}",
            "-kernel", str(images.kernel), "-initrd", str(images.initrd),
            "-append", f"console=ttyS0 root=/dev/vda rw panic=0 {args}".strip(),
            "-drive", f"file={workdir / DISK},format=qcow2,if=virtio",
            "-drive", f"file={seed},format=raw,if=virtio,readonly=on",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,addr=0x3",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=shell,path={sockets / 'shell.sock'},server=on,wait=off",
            "-device", f"virtserialport,chardev=shell,name={SHELL_PORT}",
            "-qmp", f"unix:{sockets / 'qmp.sock'},server=on,wait=off",
        ]  # fmt: skip
        started = time.time()
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=(workdir / "qemu.log").open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the test, which kills the VM in order
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        return cls(name, workdir, process, started, accel, sockets)

    @property
    def disk(self) -> Path:
        return self.workdir / DISK

    # ------------------------------------------------------------------ console
    @property
    def console_path(self) -> Path:
        return self.workdir / "console.log"

    def console(self) -> str:
        try:
            return self.console_path.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return f"\n--- console of {self.name} ({self.console_path}), last {lines} lines ---\n" + "\n".join(
            self.console().splitlines()[-lines:]
        )

    def wait_for(self, pattern: str, timeout: float, *, start: int = 0) -> re.Match[str]:
        """The first match of pattern in the console log (from character `start`), waiting up to timeout s."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.console(), start)
            if found:
                return found
            if not self.alive:
                raise VmError(f"{self.name} stopped before /{pattern}/ showed{self.tail()}")
            if time.monotonic() > deadline:
                raise VmError(f"/{pattern}/ not on {self.name}'s console within {timeout:.0f}s{self.tail()}")
            time.sleep(0.5)

    # ------------------------------------------------------------------ life
    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise VmError(f"{self.name} did not power off within {timeout:.0f}s{self.tail()}") from None

    def kill(self) -> None:
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.close_shell()
        shutil.rmtree(self.sockets, ignore_errors=True)

    def start_error(self) -> str | None:
        """Why QEMU itself failed (it exits 1; a guest power-off exits 0), from its own log; None otherwise."""
        code = self.process.poll()
        if code in (None, 0):
            return None
        log = (self.workdir / "qemu.log").read_text(errors="replace").strip()
        return f"QEMU for {self.name} exited {code}: {log[-500:]}"

    def qmp(self, command: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One QMP command (e.g. 'system_reset') on the VM's monitor socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(str(self.sockets / "qmp.sock"))
            stream = sock.makefile("rwb")
            json.loads(stream.readline())  # greeting
            for request in ({"execute": "qmp_capabilities"}, {"execute": command, "arguments": dict(arguments or {})}):
                stream.write(json.dumps(request).encode() + b"\n")
                stream.flush()
                while True:
                    answer: dict[str, Any] = json.loads(stream.readline())
                    if "return" in answer or "error" in answer:
                        break
            if "error" in answer:
                raise VmError(f"QMP {command}: {answer['error']}")
            return answer

    def reset(self) -> None:
        """A hard reset, as a cloud's 'reset' or a host crash and restart: the disk is kept, memory is not."""
        self.close_shell()
        self.qmp("system_reset")

    # ------------------------------------------------------------------ command channel
    def run(self, command: str, timeout: float = 60) -> tuple[int, str]:
        """Run command with bash inside the guest (root), through the image's command channel."""
        with self._shell_lock:
            deadline = time.monotonic() + timeout + 30
            if self._shell is None:
                self._shell = self._connect_shell(deadline)
            self._next_id += 1
            request = {"id": self._next_id, "cmd": command, "timeout": timeout}
            self._shell.sendall(json.dumps(request).encode() + b"\n")
            while True:
                while b"\n" in self._shell_buffer:
                    line, self._shell_buffer = self._shell_buffer.split(b"\n", 1)
                    answer = json.loads(line)
                    if answer.get("id") == self._next_id:
                        return int(answer["rc"]), str(answer["out"])
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive:
                    self.close_shell()
                    raise VmError(f"no answer to {command!r} from {self.name}{self.tail()}")
                self._shell.settimeout(min(left, 5))
                try:
                    chunk = self._shell.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    self.close_shell()
                    raise VmError(f"the command channel of {self.name} closed{self.tail()}")
                self._shell_buffer += chunk

    def _connect_shell(self, deadline: float) -> socket.socket:
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.sockets / "shell.sock"))
                return sock
            except OSError:
                sock.close()
                if time.monotonic() > deadline or not self.alive:
                    raise VmError(f"cannot reach the command channel of {self.name}{self.tail()}") from None
                time.sleep(0.5)

    def close_shell(self) -> None:
        if self._shell is not None:
            self._shell.close()
            self._shell = None
            self._shell_buffer = b""


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the thread that started QEMU ends, so a test process that
    dies (or is killed) never leaves a VM running (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def make_seed(directory: Path, user_data: bytes | str, name: str, extra_files: Mapping[str, bytes]) -> Path:
    """A NoCloud seed: an ISO 9660 volume labelled cidata with user-data, meta-data and any extra files."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    (directory / "user-data").write_bytes(user_data.encode() if isinstance(user_data, str) else user_data)
    (directory / "meta-data").write_text(f"instance-id: {name}\nlocal-hostname: {name[:63]}\n")
    for relative, content in extra_files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    iso = directory.with_suffix(".iso")
    subprocess.run(
        ["genisoimage", "-quiet", "-output", str(iso), "-volid", "cidata", "-joliet", "-rock", str(directory)],
        check=True,
    )
    return iso


def accelerator(images: Images) -> str:
    """'kvm' when a short probe boots the image's kernel under KVM, else 'tcg' (software emulation).

    On this machine /dev/kvm answers but a KVM guest spins without booting (TESTING-NOTES.md): the probe
    waits KVM_PROBE_S for the kernel's first console line. CML_VM_ACCEL=tcg|kvm skips it; the result is
    kept per host boot (/proc/sys/kernel/random/boot_id)."""
    forced = os.environ.get("CML_VM_ACCEL", "")
    if forced in ("tcg", "kvm"):
        return forced
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    cached = images.root / f"accel-{boot_id}"
    if cached.exists():
        return cached.read_text().strip()
    result = "kvm" if _kvm_boots(images) else "tcg"
    cached.write_text(result)
    return result


def _kvm_boots(images: Images) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    probe = subprocess.Popen(
        [QEMU, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-no-user-config", "-display", "none",
         "-serial", "stdio", "-no-reboot", "-kernel", str(images.kernel), "-append", "console=ttyS0 panic=-1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    seen = threading.Event()

    def read() -> None:
        assert probe.stdout is not None
        for line in probe.stdout:
            if b"Linux version" in line:
                seen.set()
                return

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + KVM_PROBE_S
    while not seen.wait(0.2) and probe.poll() is None and time.monotonic() < deadline:
        pass  # until the kernel speaks, QEMU gives up (e.g. "-cpu host" refused), or the probe times out
    booted = seen.is_set()
    if probe.poll() is None:
        os.killpg(probe.pid, signal.SIGKILL)
    probe.wait()
    return booted

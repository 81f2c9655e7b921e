"""A stand-in VM for running the real boot script unprivileged, for tests and the demo.

The script runs with bash in a temporary directory: CML_ROOT points its /etc, /var/lib and
/opt at <dir>/root, and the commands that would touch the machine (docker, systemctl,
shutdown, apt-get, curl, logger, nvidia-smi, nvidia-ctk, ...) are stubs on PATH that record
their argv. `systemctl start cml-runner.service` really runs the unit's ExecStart, so the
recorded `docker run` is the one systemd would run, with the env file's contents at that time.

    box = VmSandbox(tmp_path, docker=True)
    result = box.run(render_startup_script(cfg))
    assert result.returncode == 0, result.stdout
    box.runner_env()            # {'ACCOUNT_UUID': ..., 'OAUTH_CLIENT_SECRET': ..., ...}
    box.calls("apt-get")        # [] on the fast path
    box.names()                 # every recorded command in order, e.g. for ordering checks

PATH holds only the stubs and a short list of harmless host tools (vm_sandbox_stubs.py): any other command
the script calls is recorded as unexpected and makes run() fail, so no host binary (cloud-init, waagent, ...)
is ever executed, whatever the caller's PATH holds. The apt-get stub models dpkg's lock held for a while after
boot (apt_lock_s), and ubuntu-drivers installs a driver without nvidia-smi, as on Ubuntu.

Scripts (including CLOUD_STARTUP_SCRIPT) can add their own marker to the log with
`echo marker >>"$SANDBOX_LOG"`. Nothing leaves the machine: curl is a stub too.
"""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from vm_sandbox_stubs import ALLOWED_HOST_TOOLS, BASH_ENV, BODIES, RECORD, SEP, STUBBED, UNEXPECTED

__all__ = ["SEP", "DockerRun", "VmSandbox", "allowed_tools"]


def allowed_tools(realbin: Path) -> str:
    """Link only the allowed host tools (bash, coreutils, python3, ...) into realbin, from the system's own
    directories: never from the caller's PATH, never a tool that could change the host (those are stubs or
    absent). Returns realbin as a PATH entry, for any test that runs product code with stubs of its own."""
    realbin.mkdir(parents=True, exist_ok=True)
    for name in ALLOWED_HOST_TOOLS:
        for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"):
            if os.path.isfile(os.path.join(d, name)) and os.access(os.path.join(d, name), os.X_OK):
                if not (realbin / name).is_symlink():
                    (realbin / name).symlink_to(os.path.join(d, name))
                break
    return str(realbin)


@dataclass
class DockerRun:
    argv: list[str]
    env: dict[str, str]


@dataclass
class VmSandbox:
    """One fake VM. Flags describe the image: what is installed before the script runs."""

    path: Path
    docker: bool = True
    nvidia_driver: bool = False
    nvidia_toolkit: bool = False
    nvidia_default_runtime: bool = False
    apt_has_toolkit: bool = True  # the distribution's archive offers nvidia-container-toolkit
    cloud_init: bool = True  # cloud-init is installed and /var/lib/cloud exists (every cloud's Ubuntu image)
    containers: list[str] = field(default_factory=list)  # ids `docker ps` reports
    # How long after run() starts another apt holds dpkg's lock (unattended-upgrades on a first boot): an apt-get
    # install without -o DPkg::Lock::Timeout fails at once with exit 100 (vm_sandbox_stubs.py _APT_LOCK).
    apt_lock_s: float = 1.5
    apt_missing: tuple[str, ...] = ()  # packages the archive lacks: apt-get install fails ("Unable to locate")
    # Commands the script may call although the image lacks them (recorded as unexpected, not failing run()).
    expected_absent: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.root = self.path / "root"
        self.bin = self.path / "bin"
        self.log = self.path / "calls.log"
        self.script = self.path / "user-data.sh"
        for d in ("bin", "realbin", "available", "state", "state/dpkg", "runs"):
            (self.path / d).mkdir(parents=True, exist_ok=True)
        for d in ("etc/systemd/system", "etc/apt/sources.list.d", "var/lib", "opt", "dev", "tmp"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        if self.cloud_init:
            (self.root / "var/lib/cloud").mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self._link_real_tools()
        for name in STUBBED:
            self._write(self.path / "available" / name, RECORD + BODIES.get(name, "exit 0\n"))
        (self.path / "bash_env").write_text(BASH_ENV)
        present = {"systemctl", "systemd-run", "shutdown", "poweroff", "reboot", "apt-get", "apt-cache", "curl",
                   "logger", "modprobe", "gpg", "useradd", "journalctl", "dpkg-query"}  # fmt: skip
        if self.cloud_init:
            present.add("cloud-init")
        if self.docker:
            present.add("docker")
            self.state("active-docker")
        if self.nvidia_driver:
            present.add("nvidia-smi")
        if self.nvidia_toolkit:
            present.add("nvidia-ctk")
        if self.apt_has_toolkit:
            self.state("apt-has-toolkit")
        (self.path / "state" / "apt-missing").write_text("".join(p + "\n" for p in self.apt_missing))
        if self.nvidia_default_runtime:
            (self.root / "etc/docker").mkdir(parents=True, exist_ok=True)
            (self.root / "etc/docker/daemon.json").write_text('{"default-runtime": "nvidia"}\n')
        for name in present:
            self._write(self.bin / name, (self.path / "available" / name).read_text())
        (self.path / "state" / "containers").write_text("".join(c + "\n" for c in self.containers))

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def _link_real_tools(self) -> None:
        allowed_tools(self.path / "realbin")

    def state(self, name: str) -> None:
        (self.path / "state" / name).touch()

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{self.bin}:{self.path / 'realbin'}",
            "HOME": str(self.root / "tmp"),
            "LANG": "C.UTF-8",
            "CML_ROOT": str(self.root),
            "SANDBOX": str(self.path),
            "SANDBOX_LOG": str(self.log),
            "BASH_ENV": str(self.path / "bash_env"),
        }

    def run(self, script: str | bytes, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the boot script as cloud-init would (gzip undone, a file run by bash); stdout+stderr merged.
        Raises AssertionError if the script called a command that is neither a stub nor an allowed host tool
        (unless it is in expected_absent): on a real VM that would have run something the test never saw."""
        data = script if isinstance(script, bytes) else script.encode()
        self.script.write_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        self.script.chmod(0o700)
        if self.apt_lock_s > 0:
            (self.path / "state" / "apt-lock-until").write_text(str(time.time_ns() + int(self.apt_lock_s * 1e9)))
        result = subprocess.run(
            [str(self.path / "realbin" / "bash"), str(self.script)], env=self.env(), cwd=self.path,
            capture_output=False, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
            check=False,
        )  # fmt: skip
        unexpected = [argv for argv in self.unexpected() if argv[0] not in self.expected_absent]
        if unexpected:
            raise AssertionError(f"the script ran commands the sandbox does not know: {unexpected}\n{result.stdout}")
        return result

    # -- what happened
    def records(self) -> list[list[str]]:
        """Every call to a stub, in order (argv with the program's name first)."""
        lines = self.log.read_text().splitlines()
        return [line.split(SEP) for line in lines if not line.startswith(UNEXPECTED)]

    def unexpected(self) -> list[list[str]]:
        """Every call to a command that was not there (neither a stub nor an allowed host tool)."""
        lines = self.log.read_text().splitlines()
        return [line[len(UNEXPECTED) :].split(SEP) for line in lines if line.startswith(UNEXPECTED)]

    def names(self) -> list[str]:
        return [r[0] for r in self.records()]

    def calls(self, name: str) -> list[list[str]]:
        """argv (without the program) of every call to name."""
        return [r[1:] for r in self.records() if r[0] == name]

    def apt_calls(self) -> list[list[str]]:
        """apt-get's calls without their `-o NAME=VALUE` options (every one waits for dpkg's lock:
        test_bootstrap_script.py checks the options)."""
        calls = []
        for argv in self.calls("apt-get"):
            kept: list[str] = []
            for arg in argv:
                if kept[-1:] == ["-o"]:
                    kept.pop()
                else:
                    kept.append(arg)
            calls.append(kept)
        return calls

    def docker_runs(self) -> list[DockerRun]:
        runs = []
        for n, rec in enumerate(self.records()):
            if rec[:2] == ["docker", "run"]:
                env_file = self.path / "runs" / f"{n}.env"
                env = {}
                if env_file.exists():
                    env = dict(ln.split("=", 1) for ln in env_file.read_text().splitlines() if "=" in ln)
                runs.append(DockerRun(argv=rec[1:], env=env))
        return runs

    def runner_env(self) -> dict[str, str]:
        """The environment of the last recorded `docker run` (the runner container)."""
        runs = self.docker_runs()
        if not runs:
            raise AssertionError("no `docker run` was recorded")
        return runs[-1].env

    def file(self, path: str) -> Path:
        """A file of the fake VM by its absolute path, e.g. file('/etc/cml-runner/runner.env')."""
        return self.root / path.lstrip("/")

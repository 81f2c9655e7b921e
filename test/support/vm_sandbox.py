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

Scripts (including CLOUD_STARTUP_SCRIPT) can add their own marker to the log with
`echo marker >>"$SANDBOX_LOG"`. Nothing leaves the machine: curl is a stub too.
"""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SEP = "\x1f"
STUBBED = (
    "docker", "dockerd", "systemctl", "systemd-run", "shutdown", "poweroff", "reboot", "apt-get", "apt-cache", "apt",
    "curl", "wget", "logger", "nvidia-smi", "nvidia-ctk", "ubuntu-drivers", "modprobe", "gpg", "useradd",
)  # fmt: skip

_RECORD = f"""#!/bin/bash
{{ printf '%s' "${{0##*/}}"; printf '{SEP}%s' "$@"; printf '\\n'; }} >>"$SANDBOX_LOG"
"""

_BODIES: dict[str, str] = {
    "docker": r"""
case "$1" in
  image) [ -e "$SANDBOX/state/image-present" ]; exit ;;
  pull) touch "$SANDBOX/state/image-present" ;;
  ps) cat "$SANDBOX/state/containers" 2>/dev/null || true ;;
  run)
    n=$(($(wc -l <"$SANDBOX_LOG") - 1))
    while [ $# -gt 0 ]; do
      if [ "$1" = --env-file ]; then cp "$2" "$SANDBOX/runs/$n.env"; fi
      shift
    done ;;
esac
exit 0
""",
    "systemctl": r"""
unit="${*: -1}"
case "$1" in
  is-active) [ -e "$SANDBOX/state/active-${unit%.service}" ]; exit ;;
  stop) rm -f "$SANDBOX/state/active-${unit%.service}" ;;
  start|restart)
    touch "$SANDBOX/state/active-${unit%.service}"
    if [ "$unit" = cml-runner.service ]; then
      grep -E '^ExecStart(Pre)?=' "$CML_ROOT/etc/systemd/system/$unit" | cut -d= -f2- | sed 's/^-//' |
        while read -r line; do bash -c "$line"; done
    fi ;;
esac
""",
    "apt-get": r"""
if [ "$1" = install ]; then
  for p in "$@"; do
    case "$p" in
      docker.io|docker-ce) cp "$SANDBOX/available/docker" "$SANDBOX/bin/docker"
        touch "$SANDBOX/state/active-docker" ;;
      nvidia-container-toolkit) cp "$SANDBOX/available/nvidia-ctk" "$SANDBOX/bin/nvidia-ctk" ;;
      ubuntu-drivers-common) cp "$SANDBOX/available/ubuntu-drivers" "$SANDBOX/bin/ubuntu-drivers" ;;
    esac
  done
fi
exit 0
""",
    "apt-cache": r"""[ -e "$SANDBOX/state/apt-has-toolkit" ]""",
    "ubuntu-drivers": r"""
[ "$1" = install ] && cp "$SANDBOX/available/nvidia-smi" "$SANDBOX/bin/nvidia-smi"
exit 0
""",
    # As `nvidia-ctk runtime configure --runtime=docker` does: keep the file, add runtimes.nvidia, and make it
    # the default only with --set-as-default (NVIDIA container toolkit install guide, "Configuring Docker").
    "nvidia-ctk": r"""
config=/etc/docker/daemon.json default=
for a in "$@"; do
  case "$a" in
    --config=*) config="${a#--config=}" ;;
    --set-as-default) default=1 ;;
  esac
done
python3 - "$config" "$default" <<'CTK'
import json, os, sys
path, default = sys.argv[1], sys.argv[2]
config = json.load(open(path)) if os.path.exists(path) else {}
config.setdefault("runtimes", {})["nvidia"] = {"args": [], "path": "nvidia-container-runtime"}
if default:
    config["default-runtime"] = "nvidia"
json.dump(config, open(path, "w"), indent=4)
CTK
""",
}


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
    cloud_init: bool = True  # /var/lib/cloud exists (AWS and Azure images)
    containers: list[str] = field(default_factory=list)  # ids `docker ps` reports

    def __post_init__(self) -> None:
        self.root = self.path / "root"
        self.bin = self.path / "bin"
        self.log = self.path / "calls.log"
        self.script = self.path / "user-data.sh"
        for d in ("bin", "realbin", "available", "state", "runs"):
            (self.path / d).mkdir(parents=True, exist_ok=True)
        for d in ("etc/systemd/system", "etc/apt/sources.list.d", "var/lib", "opt", "dev", "tmp"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        if self.cloud_init:
            (self.root / "var/lib/cloud").mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self._link_real_tools()
        for name in STUBBED:
            self._write(self.path / "available" / name, _RECORD + _BODIES.get(name, "exit 0\n"))
        present = {"systemctl", "systemd-run", "shutdown", "poweroff", "reboot", "apt-get", "apt-cache", "curl",
                   "logger", "modprobe", "gpg", "useradd"}  # fmt: skip
        if self.docker:
            present.add("docker")
            self.state("active-docker")
        if self.nvidia_driver:
            present.add("nvidia-smi")
        if self.nvidia_toolkit:
            present.add("nvidia-ctk")
        if self.apt_has_toolkit:
            self.state("apt-has-toolkit")
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
        """Real tools (bash, coreutils, python3, ...) minus anything stubbed or meant to be absent."""
        realbin = self.path / "realbin"
        for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                target = realbin / name
                if name in STUBBED or target.exists() or target.is_symlink():
                    continue
                target.symlink_to(os.path.join(d, name))

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
        }

    def run(self, script: str | bytes, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the boot script as cloud-init would (gzip undone, a file run by bash); stdout+stderr merged."""
        data = script if isinstance(script, bytes) else script.encode()
        self.script.write_bytes(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        self.script.chmod(0o700)
        return subprocess.run(
            ["bash", str(self.script)], env=self.env(), cwd=self.path, capture_output=False, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False,
        )  # fmt: skip

    # -- what happened
    def records(self) -> list[list[str]]:
        return [line.split(SEP) for line in self.log.read_text().splitlines()]

    def names(self) -> list[str]:
        return [r[0] for r in self.records()]

    def calls(self, name: str) -> list[list[str]]:
        """argv (without the program) of every call to name."""
        return [r[1:] for r in self.records() if r[0] == name]

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

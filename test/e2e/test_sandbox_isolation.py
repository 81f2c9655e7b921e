"""The VM sandbox (test/support/vm_sandbox.py) never reaches a host binary: a product script run in it sees only the
sandbox's stubs and a short list of harmless host tools, whatever the caller's PATH holds, and a command that is
neither fails the run instead of running on the host (issue 33: `cloud-init clean` once ran on the developer's
machine and deleted its cloud-init state)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_bake_script import RECIPE, runner_cfg
from vm_sandbox import VmSandbox
from vm_sandbox_stubs import ALLOWED_HOST_TOOLS, STUBBED

from pipe.bootstrap.render import render_bake_script, render_startup_script

# What would change the host if a test ran it: each is faked first on the host's PATH by the test below.
HOST_COMMANDS = ("cloud-init", "systemctl", "shutdown", "apt-get", "docker", "waagent")


@pytest.fixture()
def host_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake of each HOST_COMMANDS first on the host's PATH: it leaves a file named after itself when run."""
    fakes, ran = tmp_path / "host-bin", tmp_path / "host-ran"
    fakes.mkdir()
    ran.mkdir()
    for name in HOST_COMMANDS:
        (fakes / name).write_text(f'#!/bin/sh\ntouch "{ran}/{name}"\nexit 0\n')
        (fakes / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fakes}{os.pathsep}{os.environ.get('PATH', '')}")
    return ran


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
@pytest.mark.parametrize("role", ["bake", "runner"])
def test_no_host_command_runs_from_a_sandbox_whatever_the_host_path_holds(
    tmp_path: Path, host_fakes: Path, cloud: str, role: str
) -> None:
    box = VmSandbox(tmp_path / "vm", docker=False, nvidia_driver=True)
    script = (render_bake_script(cloud, gpu=True, recipe=RECIPE, deadline_s=2400) if role == "bake"
              else render_startup_script(runner_cfg(cloud)))  # fmt: skip
    result = box.run(script)
    assert result.returncode == 0, result.stdout
    assert sorted(p.name for p in host_fakes.iterdir()) == [], "a host command ran"
    # The sandbox's own stubs did the work instead (cloud-init on the bake's clean, systemctl always).
    assert box.calls("systemctl") and (role == "runner" or box.calls("cloud-init"))


def test_the_sandbox_path_holds_only_its_stubs_and_the_allowed_host_tools(tmp_path: Path, host_fakes: Path) -> None:
    box = VmSandbox(tmp_path / "vm", docker=True, nvidia_driver=True, nvidia_toolkit=True)
    on_path = {p.name: p for d in box.env()["PATH"].split(os.pathsep) for p in Path(d).iterdir()}
    assert set(on_path) <= set(STUBBED) | set(ALLOWED_HOST_TOOLS)
    for name, path in on_path.items():
        if name in STUBBED:  # a file of the sandbox's own, never a link to the host
            assert not path.is_symlink() and path.parent == box.bin, name
        else:  # a host tool, from the system's directories only: never the caller's PATH
            assert str(path.resolve()).startswith(("/usr/", "/bin/", "/sbin/")), (name, path.resolve())


def test_a_command_neither_stubbed_nor_allowed_fails_the_run_and_is_recorded_not_run(
    tmp_path: Path, host_fakes: Path
) -> None:
    box = VmSandbox(tmp_path / "vm")
    with pytest.raises(AssertionError, match=r"commands the sandbox does not know: .*waagent"):
        box.run("#!/bin/bash\nwaagent -force -deprovision+user\nmount /dev/sda1 /mnt || true\n")
    assert box.unexpected() == [["waagent", "-force", "-deprovision+user"], ["mount", "/dev/sda1", "/mnt"]]
    assert not (host_fakes / "waagent").exists()
    # `command -v` sees an absent command as absent, as on an image without it; expected_absent lets a test say so.
    quiet = VmSandbox(tmp_path / "quiet", expected_absent=("mount",))
    result = quiet.run("#!/bin/bash\ncommand -v waagent || echo no-waagent\nmount -a || echo no-mount\n")
    assert "no-waagent" in result.stdout and "no-mount" in result.stdout
    assert quiet.unexpected() == [["mount", "-a"]]


def test_the_sandbox_cloud_init_cleans_only_the_sandbox_root_as_cloud_init_does(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path / "vm")
    for path in ("/var/lib/cloud/instances/i-1/sem/x", "/var/lib/cloud/seed/nocloud/user-data",
                 "/var/log/cloud-init.log", "/var/log/cloud-init-output.log", "/var/log/syslog"):  # fmt: skip
        box.file(path).parent.mkdir(parents=True, exist_ok=True)
        box.file(path).write_text("x\n")
    result = box.run("#!/bin/bash\ncloud-init clean --logs --machine-id\n")
    assert result.returncode == 0, result.stdout
    assert [p.name for p in box.file("/var/lib/cloud").iterdir()] == ["seed"]
    assert not box.file("/var/log/cloud-init.log").exists() and box.file("/var/log/syslog").exists()
    assert box.file("/etc/machine-id").read_text() == "uninitialized\n"
    assert box.file("/etc/machine-id").stat().st_mode & 0o777 == 0o444

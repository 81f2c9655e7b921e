"""The boot script's bake role (COMMAND: bake) and the fast path of a runner booted from its image, run in the
sandboxed VM (test/vm_sandbox.py): what the bake installs, clears and leaves, and that a runner's boot on the
baked disk installs nothing, pulls nothing and says so with the time saved."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from vm_sandbox import SEP, VmSandbox

from pipe.bake.flow import BAKE_SUCCEEDED
from pipe.bootstrap.render import BootConfig, render_bake_script, render_startup_script

RECIPE = "0123456789ab"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"  # as test_bootstrap_script.py


def bake(box: VmSandbox, cloud: str = "aws", gpu: bool = False) -> str:
    result = box.run(render_bake_script(cloud, gpu=gpu, recipe=RECIPE, deadline_s=2400))
    assert result.returncode == 0, result.stdout
    return result.stdout


def runner_cfg(cloud: str = "aws", gpu: bool = False, baked: bool = False) -> BootConfig:
    return BootConfig(
        cloud=cloud,
        account_uuid="{aaaaaaaa-1111-2222-3333-444444444444}",
        repository_uuid="{bbbbbbbb-1111-2222-3333-444444444444}",
        runner_uuid="{cccccccc-1111-2222-3333-444444444444}",
        runner_name="cml-test",
        oauth_client_id="client-id-1",
        oauth_client_secret="client-secret-1",
        idle_timeout_s=300,
        max_lifetime_s=3600,
        single=False,
        gpu=gpu,
        baked=baked,
    )


@pytest.mark.parametrize("gpu", [False, True])
def test_bake_script_is_shellcheck_clean_and_holds_no_runner_identity(gpu: bool) -> None:
    script = render_bake_script("gcp", gpu=gpu, recipe=RECIPE, deadline_s=2400)
    assert "OAUTH_CLIENT" not in script.split("CML_ENV_EOF")[1]  # the env block is empty: no runner, no secret
    checked = subprocess.run([str(SHELLCHECK), "-s", "bash", "-"], input=script, capture_output=True, text=True,
                             check=False, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout


def test_bake_on_a_docker_less_image_installs_docker_pulls_the_runner_clears_the_instance_state_and_powers_off(
    tmp_path: Path,
) -> None:
    box = VmSandbox(tmp_path, docker=False)
    # What the bake's VM had of its own, which must not reach the image.
    for path, text in {
        "/var/lib/cloud/instances/i-bake/user-data.txt": "#!/bin/bash\n",
        "/etc/machine-id": "0123456789abcdef0123456789abcdef\n",
        "/etc/ssh/ssh_host_ed25519_key": "private\n",
        "/home/ubuntu/.ssh/authorized_keys": "ssh-ed25519 AAAA bake\n",
        "/root/.docker/config.json": '{"auths": {}}\n',
        "/var/log/cloud-init.log": "the bake's log\n",
        "/var/log/syslog.1": "old log\n",
        "/var/log/cloud-init-output.log": "the bake's output\n",
        "/var/lib/cloud/data/instance-id": "i-bake\n",
        "/var/lib/cloud/sem/config_scripts_per_once.once": "",
        "/var/lib/cloud/seed/nocloud/meta-data": "instance-id: seeded\n",  # the image's own seed: clean keeps it
    }.items():
        box.file(path).parent.mkdir(parents=True, exist_ok=True)
        box.file(path).write_text(text)
    box.file("/var/lib/cloud/instance").symlink_to(box.file("/var/lib/cloud/instances/i-bake"))

    out = bake(box)

    assert [c for c in box.apt_calls() if c[0] == "install"] == [["install", "-y", "-q",
                                                                      "--no-install-recommends", "docker.io"]]
    assert box.calls("docker").count(["pull", "-q", runner_cfg().runner_image]) == 1
    assert box.calls("systemctl")[-1] == ["poweroff"]
    # cloud-init's own clean ran (the sandbox's cloud-init does what `cloud-init clean --logs --machine-id` does,
    # inside the sandbox root): all of /var/lib/cloud but seed/ is gone, as on a real guest.
    assert box.calls("cloud-init") == [["clean", "--logs", "--machine-id"]]
    assert sorted(p.name for p in box.file("/var/lib/cloud").iterdir()) == ["seed"]
    assert box.file("/var/lib/cloud/seed/nocloud/meta-data").exists()
    assert not box.file("/var/log/cloud-init-output.log").exists()
    assert box.file("/etc/machine-id").read_text() == "uninitialized\n"  # for systemd to fill at the first boot
    for gone in ("/etc/ssh/ssh_host_ed25519_key", "/home/ubuntu/.ssh/authorized_keys", "/root/.docker/config.json",
                 "/var/log/syslog.1", "/var/lib/cml-runner", "/etc/cml-runner",
                 "/var/lib/cloud/scripts/per-boot/cml-runner.sh"):  # fmt: skip
        assert not box.file(gone).exists(), gone
    # cloud-init clean --logs deletes its own logs (the sandbox runs the stub of the real command, vm_sandbox_stubs.py)
    assert not box.file("/var/log/cloud-init.log").exists()
    baked = box.file("/etc/cml-runner-baked").read_text()
    assert re.fullmatch(rf"recipe={RECIPE} gpu=false saved_ms=\d+\n", baked)
    assert box.calls("docker").count(["run"]) == 0 and not box.docker_runs()  # no runner on the bake's VM
    assert re.search(r"bake done in \d+ ms \(install and pull: \d+ ms\); powering off", out)
    # The one line the pipe waits for on the console before it makes an image (pipe/bake/flow.py), last before
    # the power-off.
    assert BAKE_SUCCEEDED.format(recipe=RECIPE) in out.splitlines()[-1]


def test_a_runner_booted_from_the_baked_disk_installs_nothing_pulls_nothing_and_says_what_it_saved(
    tmp_path: Path,
) -> None:
    box = VmSandbox(tmp_path, docker=False)
    bake(box)
    box.log.write_text("")  # the runner's boot on the same disk, Docker and the runner image now there
    result = box.run(render_startup_script(runner_cfg(baked=True)))
    assert result.returncode == 0, result.stdout
    assert box.calls("apt-get") == [] and box.calls("curl") == []
    # Not even the image check: the recipe says the image holds it (a `docker image inspect` took 2.5-5 s of the
    # baked boot under emulation, test_vm_bake_boot.py).
    assert [c for c in box.calls("docker") if c[:1] == ["pull"] or c[:2] == ["image", "inspect"]] == []
    assert result.stdout.index("step docker: done") < result.stdout.index("step pull-runner-image: done")
    saved = re.search(r"baked image: nothing to install or pull \(recipe=(\w+) gpu=false saved_ms=(\d+)\)",
                      result.stdout)  # fmt: skip
    assert saved and saved.group(1) == RECIPE, result.stdout
    assert box.docker_runs()[-1].env["RUNNER_UUID"] == runner_cfg().runner_uuid


def test_a_stock_image_boot_says_nothing_of_a_baked_image(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, docker=False)
    result = box.run(render_startup_script(runner_cfg()))
    assert result.returncode == 0, result.stdout
    assert "baked image" not in result.stdout
    assert [c for c in box.apt_calls() if c[0] == "install"]


def test_gpu_bake_installs_the_toolkit_and_makes_the_gpu_runtime_docker_s_default(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, docker=True, nvidia_driver=True)
    bake(box, "gcp", gpu=True)
    assert ["install", "-y", "-q", "--no-install-recommends", "nvidia-container-toolkit"] in box.apt_calls()
    assert '"default-runtime"' in box.file("/etc/docker/daemon.json").read_text()
    assert box.file("/opt/cml-runner/gpu-runtime").exists()  # Docker's default runtime stays in the image
    assert "gpu=true" in box.file("/etc/cml-runner-baked").read_text()


@pytest.mark.parametrize("cloud", ["azure", "aws"])
def test_an_azure_bake_deprovisions_the_azure_linux_agent_and_no_other_does(tmp_path: Path, cloud: str) -> None:
    box = VmSandbox(tmp_path, docker=False)
    waagent = box.bin / "waagent"  # present on Azure's Ubuntu images; records its argv like the sandbox's stubs
    record = f"{{ printf waagent; printf '{SEP}%s' \"$@\"; printf '\\n'; }} >>\"$SANDBOX_LOG\""
    waagent.write_text(f"#!/bin/bash\n{record}\n")
    waagent.chmod(0o755)
    bake(box, cloud)
    assert box.calls("waagent") == ([["-force", "-deprovision+user"]] if cloud == "azure" else [])
    names = box.names()
    if cloud == "azure":  # after the installs, before the power-off
        power_off = len(names) - 1 - names[::-1].index("systemctl")
        assert names.index("docker") < names.index("waagent") < power_off
        assert box.calls("systemctl")[-1] == ["poweroff"]


def test_a_bake_on_an_image_without_cloud_init_clears_its_state_itself(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, docker=False, cloud_init=False)
    box.file("/etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    bake(box)
    assert box.calls("cloud-init") == [] and box.file("/etc/machine-id").read_text() == ""

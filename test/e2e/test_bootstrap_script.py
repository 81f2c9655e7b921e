"""The boot script: rendered per launch, shellcheck clean, and run for real in a sandbox VM."""

from __future__ import annotations

import ast
import base64
import dataclasses
import gzip
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from vm_sandbox import VmSandbox

from pipe.bootstrap import (
    BOOT_STEPS,
    USER_DATA_LIMIT,
    BootConfig,
    masked,
    render_startup_script,
    render_user_data,
    runner_env_from_script,
    shipped_agent,
    shipped_pod_agent,
)
from pipe.bootstrap.render import LIFETIME_BACKUP_GRACE_S, TEMPLATE
from pipe.bootstrap.shipping import shipped, without_comments

SHELLCHECK = Path(sys.executable).parent / "shellcheck"
SECRET = "s3cr3t-OAuth_Value.9"
CLIENT_ID = "Zk2CLIENTidX"
RUNNER_UUID = "{0a1b2c3d-1111-2222-3333-444455556666}"
CLOUD_GPU = [(c, g) for c in ("aws", "gcp", "azure") for g in (False, True)]
USER_MARKER = 'echo USER_STARTUP_SCRIPT >>"$SANDBOX_LOG"'

# Credentials that must never reach a VM: cloud keys and Bitbucket API tokens.
FORBIDDEN = {
    "AWS access key": r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
    "AWS secret variable": r"AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN",
    "GCP service account key": r'"private_key"|-----BEGIN [A-Z ]*PRIVATE KEY-----|GOOGLE_APPLICATION_CREDENTIALS',
    "Azure client secret": r"AZURE_CLIENT_SECRET|AZURE_CLIENT_ID",
    "Bitbucket API token": r"\bATBB[\w=.-]{20,}|\bATCTT[\w=.-]{20,}|BITBUCKET_ACCESS_TOKEN|BITBUCKET_APP_PASSWORD",
    "Bitbucket OIDC token": r"BITBUCKET_STEP_OIDC_TOKEN",
}


def make_cfg(cloud: str = "aws", gpu: bool = False, **kw: object) -> BootConfig:
    base: dict[str, object] = dict(
        cloud=cloud,
        account_uuid="{11111111-2222-3333-4444-555555555555}",
        repository_uuid="{21111111-2222-3333-4444-555555555555}",
        runner_uuid=RUNNER_UUID,
        runner_name="cml-abcdefghij",
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=SECRET,
        idle_timeout_s=300,
        max_lifetime_s=3 * 3600,
        single=False,
        gpu=gpu,
        user_startup_script=USER_MARKER,
    )
    base.update(kw)
    return BootConfig(**base)  # type: ignore[arg-type]


def expected_env(cfg: BootConfig) -> dict[str, str]:
    env = {"ACCOUNT_UUID": cfg.account_uuid}
    if cfg.repository_uuid:
        env["REPOSITORY_UUID"] = cfg.repository_uuid
    env |= {
        "RUNNER_UUID": cfg.runner_uuid,
        "OAUTH_CLIENT_ID": cfg.oauth_client_id,
        "OAUTH_CLIENT_SECRET": cfg.oauth_client_secret,
        "WORKING_DIRECTORY": "/tmp",
        "RUNTIME_PREREQUISITES_ENABLED": "true",
    }
    return env


def boot(box: VmSandbox, cfg: BootConfig) -> str:
    result = box.run(render_startup_script(cfg))
    assert result.returncode == 0, result.stdout
    return result.stdout


def shellcheck(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHELLCHECK), "-s", "bash", "-"], input=text, capture_output=True, text=True, check=False, timeout=60
    )


# ------------------------------------------------------------------ static checks


@pytest.mark.parametrize(("cloud", "gpu"), CLOUD_GPU)
def test_rendered_script_is_shellcheck_clean(cloud: str, gpu: bool) -> None:
    result = shellcheck(render_startup_script(make_cfg(cloud, gpu, single=True, idle_timeout_s=None)))
    assert result.returncode == 0, result.stdout


def test_shellcheck_does_flag_a_bad_script() -> None:
    assert shellcheck("#!/bin/bash\nrm -rf $DIR/*\n").returncode != 0


@pytest.mark.parametrize(("cloud", "gpu"), CLOUD_GPU)
def test_script_is_well_under_the_aws_user_data_limit(cloud: str, gpu: bool) -> None:
    script = render_startup_script(make_cfg(cloud, gpu))
    data = render_user_data(make_cfg(cloud, gpu))
    if gpu:  # GPU scripts also carry the GPU runtime shim (~2.4 KB packed): on AWS they go gzipped
        assert len(data) < (12_000 if cloud == "aws" else 17_000)
    else:  # a CPU script stays plain text, with room for the user's CLOUD_STARTUP_SCRIPT
        assert len(script.encode()) < 14_600 and data == script


def test_big_user_script_is_gzipped_for_aws_and_rejected_when_still_too_big() -> None:
    big = "\n".join(f"echo line {i} of the proxy setup" for i in range(400))  # ~12 KB, compresses well
    data = render_user_data(make_cfg("aws", user_startup_script=big))
    assert isinstance(data, bytes) and len(data) <= USER_DATA_LIMIT["aws"]
    plain = render_startup_script(make_cfg("aws", user_startup_script=big), programs="plain")
    assert gzip.decompress(data).decode() == plain  # gzipped, the programs ship as code: gzip compresses that
    assert runner_env_from_script(data)["OAUTH_CLIENT_SECRET"] == SECRET
    assert isinstance(render_user_data(make_cfg("gcp", user_startup_script=big)), str)
    noise = base64.b64encode(random.Random(5).randbytes(20_000)).decode()  # noqa: S311 - incompressible
    with pytest.raises(ValueError, match="user-data limit"):
        render_user_data(make_cfg("aws", user_startup_script=f"echo {noise}"))


@pytest.mark.parametrize(("cloud", "gpu"), CLOUD_GPU)
def test_no_api_token_or_cloud_key_reaches_the_vm(cloud: str, gpu: bool) -> None:
    script = render_startup_script(make_cfg(cloud, gpu))
    for what, pattern in FORBIDDEN.items():
        assert not re.search(pattern, script), what
    # the only secret is the runner's own, exactly once, inside the env file's heredoc
    assert script.count(SECRET) == 1
    assert runner_env_from_script(script) == expected_env(make_cfg(cloud, gpu))


def test_the_forbidden_patterns_do_catch_tokens() -> None:
    leaky = "AKIAABCDEFGHIJKLMNOP ATBB" + "x" * 30 + ' "private_key": AZURE_CLIENT_SECRET'
    assert {w for w, p in FORBIDDEN.items() if re.search(p, leaky)} >= {
        "AWS access key", "Bitbucket API token", "GCP service account key", "Azure client secret",
    }  # fmt: skip


def test_masked_hides_the_secret_and_client_id_and_nothing_else() -> None:
    script = render_startup_script(make_cfg())
    shown = masked(script)
    assert SECRET not in shown and CLIENT_ID not in shown
    assert "OAUTH_CLIENT_SECRET=***" in shown and "OAUTH_CLIENT_ID=***" in shown
    assert shown.replace("***", "") == script.replace(SECRET, "").replace(CLIENT_ID, "")


def test_workspace_runner_has_no_repository_uuid() -> None:
    env = runner_env_from_script(render_startup_script(make_cfg(repository_uuid="")))
    assert "REPOSITORY_UUID" not in env and env["ACCOUNT_UUID"].startswith("{")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"oauth_client_secret": "two\nlines"}, "oauth_client_secret"),
        ({"oauth_client_secret": ""}, "oauth_client_secret"),
        ({"runner_uuid": "{not-a-uuid}"}, "runner_uuid"),
        ({"cloud": "oci"}, "cloud"),
        ({"user_startup_script": "echo\nCML_USER_EOF\nrm -rf /"}, "CML_USER_EOF"),
        ({"runner_image": "img; rm -rf /"}, "runner_image"),
        ({"azure_self_delete": "subscription"}, "azure_self_delete"),
    ],
)
def test_bad_inputs_are_rejected_before_rendering(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_startup_script(dataclasses.replace(make_cfg(), **change))  # type: ignore[arg-type]


def test_user_script_is_inserted_verbatim_without_substitution() -> None:
    user = "echo '@GPU@ $HOME `id`'\n"
    script = render_startup_script(make_cfg(user_startup_script=user))
    assert "echo '@GPU@ $HOME `id`'\nCML_USER_EOF" in script


def test_the_script_ships_without_its_inner_comments_but_keeps_its_header_heredocs_and_the_users_comments() -> None:
    user = "# the user's own comment\necho hi  # and a trailing one\n"
    script = render_startup_script(make_cfg(user_startup_script=user))
    template = TEMPLATE.read_text()
    header = template.split("\nset -euo pipefail", 1)[0]
    assert script.startswith(header + "\nset -euo pipefail") and "keep it private" in header
    inner = [line.strip() for line in template.split("\nset -euo pipefail", 1)[1].splitlines()
             if line.strip().startswith("#")]  # fmt: skip
    assert inner and not any(line in script.splitlines() for line in inner)
    assert "\n" + user + "CML_USER_EOF" in script  # inside its heredoc, untouched
    # Only comment lines went: every other line of the template is still there, in order.
    kept = [line for line in template.splitlines() if line.strip() not in inner]
    assert without_comments(template).splitlines() == kept


def test_a_heredoc_body_keeps_its_comment_lines() -> None:
    body = "cat >f <<'EOF'\n# kept\nEOF\ncat >g <<X\n  # kept too\nX\n"
    template = "#!/bin/bash\n# header\nx=1\n  # inner\n" + body + "# gone\n"
    assert without_comments(template) == "#!/bin/bash\n# header\nx=1\n" + body


def test_shipped_programs_carry_no_annotations_and_shipping_refuses_a_dataclass(tmp_path: Path) -> None:
    for program in (shipped_agent(), shipped_pod_agent()):
        tree = ast.parse(program)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.AnnAssign)]
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.arg) and n.annotation is not None]
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.returns is not None]
    module = tmp_path / "fields.py"
    module.write_text("from dataclasses import dataclass\n\n@dataclass\nclass F:\n    x: int = 1\n")
    with pytest.raises(ValueError, match="class F: a dataclass needs its annotations"):
        shipped(module)


def test_the_shipped_agent_is_the_repository_agent_and_compiles() -> None:
    script = render_startup_script(make_cfg())
    b64 = re.search(r"<<'CML_AGENT_EOF'[^\n]*\n(.*?)\nCML_AGENT_EOF", script, re.S)
    assert b64
    source = gzip.decompress(base64.b64decode(b64.group(1))).decode()
    assert source == shipped_agent()
    assert "class Agent" in source and '"""' not in source
    # One program: every name it uses from the decision module is defined in it (no import of the pipe).
    defined: dict[str, Any] = {"__name__": "cml_agent"}
    exec(compile(source, "agent.py", "exec"), defined)  # noqa: S102 - our own module, to prove it stands alone
    assert {"Agent", "RealClock", "DockerHost", "CloudMetadata", "main"} <= set(defined)
    assert "pipe." not in source


def test_the_vms_agent_carries_no_pod_code_and_the_pods_none_of_the_vms() -> None:
    vm, pod = shipped_agent(), shipped_pod_agent()
    for pod_only in ("DockerSocketHost", "PodCloud", "main_in_pod", "CML_AGENT_CONFIG"):
        assert pod_only not in vm and pod_only in pod
    for vm_only in ("DockerHost", "CloudMetadata", "systemctl", "169.254.169.254"):
        assert vm_only not in pod and vm_only in vm
    for program in (vm, pod):
        assert program.count("class Agent:") == 1 and program.count("from __future__") == 1
        assert program.count("if __name__ == '__main__':") == 1


def test_shipping_refuses_a_module_that_imports_what_is_not_shipped_before_it(tmp_path: Path) -> None:
    first = tmp_path / "first.py"
    first.write_text("X = 1\n\nif __name__ == '__main__':\n    print(X)\n")
    second = tmp_path / "second.py"
    second.write_text("from pipe.bootstrap.first import X, Y\n\nprint(X, Y)\n")
    with pytest.raises(ValueError, match=r"second.py imports Y from pipe.bootstrap.first"):
        shipped(first, second)
    second.write_text("from pipe.bootstrap.first import X\n\nif __name__ == '__main__':\n    print(X + 1)\n")
    program = shipped(first, second)
    assert "import" not in program and program.count("__main__") == 1
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout == "2\n"


def test_boot_steps_cover_every_cloud_and_match_the_script() -> None:
    assert set(BOOT_STEPS) == set(CLOUD_GPU)
    script_steps = set(re.findall(r"^(?:if .*; then )?step ([a-z-]+) ", render_startup_script(make_cfg()), re.M))
    for steps in BOOT_STEPS.values():
        names = [name for name, _, _ in steps]
        assert names[0] == "instance-boot" and names[-1] == "runner-online"
        assert set(names[1:-1]) <= script_steps
        assert all(seconds >= 0 and note for _, seconds, note in steps)
    assert {n for n, _, _ in BOOT_STEPS[("aws", True)]} >= {"gpu"}


# ------------------------------------------------------------ running the script


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_fast_path_installs_nothing_and_starts_the_runner_with_exactly_the_rendered_credentials(
    tmp_path: Path, cloud: str
) -> None:
    box = VmSandbox(tmp_path, docker=True)
    out = boot(box, make_cfg(cloud))
    assert box.calls("apt-get") == [] and box.calls("curl") == []
    [run] = box.docker_runs()
    assert run.env == expected_env(make_cfg(cloud))
    assert SECRET not in " ".join(run.argv)  # from the env file only, never on a command line
    for mount in ("/tmp:/tmp", "/var/run/docker.sock:/var/run/docker.sock",
                  "/var/lib/docker/containers:/var/lib/docker/containers:ro"):  # fmt: skip
        assert mount in run.argv
    assert run.argv[run.argv.index("--name") + 1] == "runner-" + RUNNER_UUID.strip("{}")
    assert run.argv[-1] == "docker-public.packages.atlassian.com/sox/atlassian/bitbucket-pipelines-runner:1"
    env_file = box.file("/etc/cml-runner/runner.env")
    assert env_file.stat().st_mode & 0o777 == 0o600
    unit = box.file("/etc/systemd/system/cml-runner.service").read_text()
    assert "Restart=always" in unit and SECRET not in unit
    assert box.calls("docker").count(["pull", "-q", make_cfg().runner_image]) == 1
    for name in ("prepare", "agent", "docker", "pull-runner-image", "start-runner"):
        assert re.search(rf"step {name}: done in \d+ ms", out), name
    assert ["-t", "cml-runner", "--", "step docker: start"] in box.calls("logger")


def test_cloud_startup_script_runs_before_anything_is_installed_pulled_or_started(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, docker=False)
    boot(box, make_cfg("gcp", gpu=True))
    names = box.names()
    user = names.index("USER_STARTUP_SCRIPT")
    first = min(i for i, rec in enumerate(box.records()) if rec[0] in ("apt-get", "docker", "curl", "nvidia-ctk"))
    assert user < first


def test_failing_cloud_startup_script_stops_the_boot_before_the_runner(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path)
    result = box.run(render_startup_script(make_cfg(user_startup_script="false")))
    assert result.returncode != 0
    assert "step user-startup-script: FAILED" in result.stdout
    assert box.docker_runs() == []


def test_docker_is_installed_from_the_distribution_when_absent(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, docker=False)
    boot(box, make_cfg("azure"))
    installs = [c for c in box.apt_calls() if c[0] == "install"]
    assert installs == [["install", "-y", "-q", "--no-install-recommends", "docker.io"]]
    assert box.runner_env() == expected_env(make_cfg("azure"))


def docker_runtimes(box: VmSandbox) -> dict[str, Any]:
    """daemon.json read with the keys Docker and the NVIDIA toolkit's README use: default-runtime, runtimes.*.path."""
    config: dict[str, Any] = json.loads(box.file("/etc/docker/daemon.json").read_text())
    return config


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_gpu_ready_image_installs_nothing_and_makes_the_gpu_shim_dockers_default_runtime(
    tmp_path: Path, cloud: str
) -> None:
    box = VmSandbox(tmp_path, docker=True, nvidia_driver=True, nvidia_toolkit=True)
    boot(box, make_cfg(cloud, gpu=True))
    assert box.calls("apt-get") == []
    daemon = box.file("/etc/docker/daemon.json")
    assert box.calls("nvidia-ctk") == [["runtime", "configure", "--runtime=docker", f"--config={daemon}"]]
    config = docker_runtimes(box)
    shim = box.file("/opt/cml-runner/gpu-runtime")
    assert config["default-runtime"] == "cml-nvidia"
    assert config["runtimes"]["cml-nvidia"] == {"path": str(shim)}
    assert config["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"  # what the shim hands over to
    assert shim.stat().st_mode & 0o111 and shim.read_text().startswith("#!/usr/bin/env python3")
    restart = box.records().index(["systemctl", "restart", "docker"])
    assert restart < next(i for i, r in enumerate(box.records()) if r[:2] == ["docker", "run"])


def test_gpu_image_with_the_nvidia_runtime_configured_gets_the_shim_once(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, nvidia_driver=True, nvidia_toolkit=True, nvidia_default_runtime=True)
    cfg = make_cfg("aws", gpu=True)
    boot(box, cfg)
    assert box.calls("apt-get") == [] and box.calls("nvidia-ctk") == []
    assert docker_runtimes(box)["default-runtime"] == "cml-nvidia"
    assert box.calls("systemctl").count(["restart", "docker"]) == 1
    (tmp_path / "state" / "active-cml-runner").unlink()  # a reboot: the script runs again
    boot(box, cfg)
    assert box.calls("systemctl").count(["restart", "docker"]) == 1  # already in place: Docker not restarted


# A step's OCI spec as Docker hands it to the runtime: image env first (python:3.11 sets no NVIDIA variable).
PYTHON_IMAGE_ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHON_VERSION=3.11.9"]


def run_shim(box: VmSandbox, tmp_path: Path, args: list[str], env: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Call the shim the boot script wrote, as Docker would; a stub nvidia-container-runtime records what it got:
    its arguments, and the OCI spec (config.json) in the bundle at that moment, which is what the NVIDIA runtime
    and its hook read NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES from."""
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "process": {"args": ["sh"], "env": env}}))
    stubs = tmp_path / "nvidia-bin"
    stubs.mkdir(exist_ok=True)
    stub = stubs / "nvidia-container-runtime"
    record = f'printf "%s\\n" "$@" >{tmp_path}/next-args\ncat {bundle}/config.json >{tmp_path}/seen\n'
    stub.write_text("#!/bin/sh\n" + record)
    stub.chmod(0o755)
    argv = [str(box.file("/opt/cml-runner/gpu-runtime")), *[a.replace("BUNDLE", str(bundle)) for a in args]]
    done = subprocess.run(argv, env={"PATH": f"{stubs}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=30,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    next_args = (tmp_path / "next-args").read_text().splitlines()
    return next_args, json.loads((tmp_path / "seen").read_text())


CREATE = ["--root", "/var/run/docker/runtime-runc/moby", "--log", "/run/log.json", "--log-format", "json", "create",
          "--bundle", "BUNDLE", "--pid-file", "/run/init.pid", "0123abcd"]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # any step image: all GPUs, the toolkit's default capabilities
        (PYTHON_IMAGE_ENV,
         [*PYTHON_IMAGE_ENV, "NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility"]),
        # a CUDA image chose already: untouched
        ([*PYTHON_IMAGE_ENV, "NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video"],
         [*PYTHON_IMAGE_ENV, "NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video"]),
        # a container that asked for no GPU keeps its choice
        (["NVIDIA_VISIBLE_DEVICES=void"], ["NVIDIA_VISIBLE_DEVICES=void"]),
        # capabilities given without devices: devices added, capabilities kept
        (["NVIDIA_DRIVER_CAPABILITIES=all"], ["NVIDIA_DRIVER_CAPABILITIES=all", "NVIDIA_VISIBLE_DEVICES=all"]),
    ],
)  # fmt: skip
def test_the_shim_gives_a_step_container_the_gpu_in_the_spec_the_nvidia_runtime_reads(
    tmp_path: Path, env: list[str], expected: list[str]
) -> None:
    box = VmSandbox(tmp_path / "vm", nvidia_driver=True, nvidia_toolkit=True)
    boot(box, make_cfg("gcp", gpu=True))
    next_args, spec = run_shim(box, tmp_path, CREATE, env)
    assert next_args == [a.replace("BUNDLE", str(tmp_path / "bundle")) for a in CREATE]  # handed over unchanged
    assert spec["process"]["env"] == expected
    assert spec["process"]["args"] == ["sh"] and spec["ociVersion"] == "1.0.2"


@pytest.mark.parametrize("args", [["start", "0123abcd"], ["--bundle", "create", "state", "x"], ["delete", "x"]])
def test_the_shim_touches_only_create(tmp_path: Path, args: list[str]) -> None:
    box = VmSandbox(tmp_path / "vm", nvidia_driver=True, nvidia_toolkit=True)
    boot(box, make_cfg("azure", gpu=True))
    next_args, spec = run_shim(box, tmp_path, args, PYTHON_IMAGE_ENV)
    assert next_args == args and spec["process"]["env"] == PYTHON_IMAGE_ENV


def test_gpu_stack_missing_pieces_are_installed_only(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, nvidia_driver=True, nvidia_toolkit=False, apt_has_toolkit=False)
    boot(box, make_cfg("gcp", gpu=True))
    installs = [c[-1] for c in box.apt_calls() if c[0] == "install"]
    assert installs == ["nvidia-container-toolkit"]  # not docker, not the driver
    assert any("nvidia.github.io/libnvidia-container" in " ".join(c) for c in box.calls("curl"))
    assert box.file("/etc/apt/sources.list.d/nvidia-container-toolkit.list").exists()
    assert docker_runtimes(box)["default-runtime"] == "cml-nvidia"


def test_cpu_vm_does_not_touch_the_gpu_stack(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, nvidia_driver=True, nvidia_toolkit=True)
    boot(box, make_cfg("aws", gpu=False))
    assert box.calls("nvidia-ctk") == [] and not box.file("/etc/docker/daemon.json").exists()


def test_second_run_is_safe_and_does_no_work_twice(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, docker=False, nvidia_driver=True, nvidia_toolkit=False)
    cfg = make_cfg("gcp", gpu=True)
    boot(box, cfg)
    started_at = box.file("/var/lib/cml-runner/started_at").read_text()
    first = len(box.records())
    boot(box, cfg)  # same boot (runner still active): nothing installed, pulled or started again
    second = box.records()[first:]
    assert [r for r in second if r[0] in ("apt-get", "nvidia-ctk", "curl")] == []
    assert [r for r in second if r[:2] in (["docker", "pull"], ["docker", "run"])] == []
    assert box.file("/var/lib/cml-runner/started_at").read_text() == started_at
    (tmp_path / "state" / "active-cml-runner").unlink()  # a reboot: the runner is not running
    third = len(box.records())
    boot(box, cfg)
    runs = [r for r in box.records()[third:] if r[:2] == ["docker", "run"]]
    assert len(runs) == 1 and [r for r in box.records()[third:] if r[0] == "apt-get"] == []
    assert box.runner_env() == expected_env(cfg)


def test_max_lifetime_has_a_shutdown_fallback_and_the_agent_is_installed(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path)
    boot(box, make_cfg(max_lifetime_s=3600, idle_timeout_s=None, single=True))
    # A transient systemd timer (no D-Bus/logind needed), MAX_LIFETIME + the agent's grace from the first boot.
    [call] = box.calls("systemd-run")
    delay = next(int(a.removeprefix("--on-active=").removesuffix("s")) for a in call if a.startswith("--on-active="))
    assert 3600 + LIFETIME_BACKUP_GRACE_S - 60 <= delay <= 3600 + LIFETIME_BACKUP_GRACE_S
    assert call[-1] == "poweroff" and call[-2].endswith("/systemctl")
    assert box.calls("shutdown") == []  # `shutdown +N` needs logind over D-Bus
    conf = json.loads(box.file("/etc/cml-runner/agent.json").read_text())
    assert conf["idle_timeout_s"] is None and conf["single"] is True and conf["max_lifetime_s"] == 3600
    assert conf["started_at_file"] == str(box.file("/var/lib/cml-runner/started_at"))
    assert "OAUTH" not in json.dumps(conf)
    assert box.file("/opt/cml-runner/agent.py").read_text() == shipped_agent()
    assert ["enable", "cml-agent.service"] in box.calls("systemctl")
    assert "agent.py" in box.file("/etc/systemd/system/cml-agent.service").read_text()


def test_past_max_lifetime_a_reboot_powers_off_without_starting_the_runner(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path)
    box.file("/var/lib/cml-runner").mkdir(parents=True)
    box.file("/var/lib/cml-runner/started_at").write_text("1000\n")  # first boot long ago
    boot(box, make_cfg())
    assert box.calls("systemctl")[-1] == ["poweroff"]
    assert box.docker_runs() == []


@pytest.mark.parametrize(("cloud", "per_boot"), [("aws", True), ("azure", True), ("gcp", False)])
def test_aws_and_azure_rerun_the_script_on_every_boot_like_gcp(tmp_path: Path, cloud: str, per_boot: bool) -> None:
    box = VmSandbox(tmp_path)
    boot(box, make_cfg(cloud))
    copy = box.file("/var/lib/cloud/scripts/per-boot/cml-runner.sh")
    assert copy.exists() == per_boot
    if per_boot:
        assert copy.stat().st_mode & 0o077 == 0  # it holds the secret


def test_containers_running_before_the_runner_are_not_steps(tmp_path: Path) -> None:
    box = VmSandbox(tmp_path, containers=["proxy-container-id"])
    boot(box, make_cfg())
    assert box.file("/var/lib/cml-runner/baseline").read_text().split() == ["proxy-container-id"]


@pytest.mark.parametrize("cloud", ["aws", "azure", "gcp"])
def test_the_largest_allowed_cloud_startup_script_still_fits_every_cloud(cloud: str) -> None:
    # pipe/config/runner.py caps CLOUD_STARTUP_SCRIPT at 8192 bytes; hard-to-compress text at that size
    noise = base64.b64encode(random.Random(1).randbytes(6200)).decode()  # noqa: S311 - reproducible noise
    user = ("echo " + noise)[:8192]
    data = render_user_data(make_cfg(cloud, gpu=True, user_startup_script=user))
    assert len(data if isinstance(data, bytes) else data.encode()) <= USER_DATA_LIMIT[cloud]
    assert runner_env_from_script(data)["OAUTH_CLIENT_SECRET"] == SECRET


def test_gzipped_user_data_boots_the_same_runner(tmp_path: Path) -> None:
    big = "\n".join(f"echo proxy line {i}" for i in range(500)) + "\n" + USER_MARKER
    cfg = make_cfg("aws", user_startup_script=big)
    data = render_user_data(cfg)
    assert isinstance(data, bytes)
    box = VmSandbox(tmp_path)
    assert box.run(data).returncode == 0
    assert box.runner_env() == expected_env(cfg) and "USER_STARTUP_SCRIPT" in box.names()
    assert box.file("/opt/cml-runner/agent.py").read_text() == shipped_agent()  # shipped as plain code


@pytest.mark.parametrize("cloud", ["aws", "azure"])
def test_the_per_boot_copy_itself_runs_on_the_next_boot(tmp_path: Path, cloud: str) -> None:
    """cloud-init runs the per-boot copy on every later boot: it is $0 then, and must not copy itself
    onto itself (install fails with "are the same file"; found by a reset of a real VM, test_vm_reboot)."""
    box = VmSandbox(tmp_path)
    cfg = make_cfg(cloud)
    boot(box, cfg)
    copy = box.file("/var/lib/cloud/scripts/per-boot/cml-runner.sh")
    second = subprocess.run(
        ["bash", str(copy)], env=box.env(), cwd=box.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout
    assert "boot done" in second.stdout

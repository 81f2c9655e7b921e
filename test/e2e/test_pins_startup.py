"""The boot script's handling of CLOUD_STARTUP_SCRIPT, run for real in the sandbox VM (issue #20).

The user's script is the user's shell program: its own variables, loops, command substitutions and
arithmetic must reach bash exactly as written, and run after our `set -u`. A mutation run found that
no test ran such a script (the sandbox's usual user script uses only variables set before it runs).
"""

from __future__ import annotations

import dataclasses
import stat
import time
from pathlib import Path

from vm_sandbox import VmSandbox

from pipe.bootstrap import BootConfig, render_startup_script
from pipe.bootstrap.render import LIFETIME_BACKUP_GRACE_S

# A script a user would write: its own variables, a loop, $(...), $((...)), ${...} defaults, a function,
# a quoted heredoc of its own and backticks; nothing of it is set when the boot script is rendered.
USER_SCRIPT = r"""#!/bin/bash
set -e
count=0
for disk in a b c; do
  count=$((count + 1))
done
greet() { printf 'hello-%s' "$1"; }
today=$(date +%Y >/dev/null && echo year)
cat >"$HOME/notes.txt" <<'NOTE'
literal $count `id`
NOTE
echo "user-script count=$count sub=$today fn=$(greet bob) default=${UNSET_BY_USER:-fallback} tick=`echo ok`" \
  >>"$SANDBOX_LOG"
"""


def make_cfg(cloud: str = "aws", user_startup_script: str = "", gpu: bool = False) -> BootConfig:
    return BootConfig(
        cloud=cloud,
        account_uuid="{11111111-2222-3333-4444-555555555555}",
        repository_uuid="{21111111-2222-3333-4444-555555555555}",
        runner_uuid="{0a1b2c3d-1111-2222-3333-444455556666}",
        runner_name="cml-abcdefghij",
        oauth_client_id="Zk2CLIENTidX",
        oauth_client_secret="s3cr3t-OAuth_Value.9",
        idle_timeout_s=300,
        max_lifetime_s=3 * 3600,
        single=False,
        gpu=gpu,
        user_startup_script=user_startup_script,
    )


def boot(box: VmSandbox, cfg: BootConfig) -> str:
    result = box.run(render_startup_script(cfg))
    assert result.returncode == 0, result.stdout
    return result.stdout


def test_a_cloud_startup_script_with_its_own_variables_loops_and_substitutions_runs_as_written(
    tmp_path: Path,
) -> None:
    """Kills the embedding mutants of pipe/bootstrap/startup.sh (see tools/mutate_bash.py): the heredoc
    delimiter unquoted (`<<CML_USER_EOF`: $count is expanded, under `set -u`, when the file is written),
    the user script evaluated in the boot script's own shell (`eval`/`source`) instead of its own bash, and
    pipe/bootstrap/render.py substituting inside the user's text."""
    box = VmSandbox(tmp_path)
    out = boot(box, make_cfg("aws", user_startup_script=USER_SCRIPT))
    lines = [r[0] for r in box.records() if r[0].startswith("user-script")]
    assert lines == ["user-script count=3 sub=year fn=hello-bob default=fallback tick=ok"], out
    assert (box.root / "tmp/notes.txt").read_text() == "literal $count `id`\n"
    assert box.docker_runs(), "the runner was not started after the user's script"


def test_a_user_script_that_exits_early_with_success_does_not_end_the_boot(tmp_path: Path) -> None:
    """`exit 0` in CLOUD_STARTUP_SCRIPT ends the user's script, not ours. Kills the mutant that runs the
    user's script with `source` in the boot script's shell (the runner would never start)."""
    box = VmSandbox(tmp_path)
    boot(box, make_cfg("gcp", user_startup_script='echo early >>"$SANDBOX_LOG"\nexit 0\necho never >>"$SANDBOX_LOG"'))
    names = box.names()
    assert "early" in names and "never" not in names
    assert box.docker_runs(), "the runner was not started"


def test_a_user_script_failing_midway_stops_the_boot_even_without_its_own_set_e(tmp_path: Path) -> None:
    """A failing command in the user's script (last command fails) is a failed step: the runner must not
    start on a half-prepared VM. Kills `bash "$OPT/user-startup.sh"` turned into `... || true`."""
    box = VmSandbox(tmp_path)
    result = box.run(render_startup_script(make_cfg(user_startup_script='echo begin >>"$SANDBOX_LOG"\nexit 3')))
    assert result.returncode != 0
    assert "step user-startup-script: FAILED (exit 3)" in result.stdout
    assert box.docker_runs() == []


def test_an_oauth_secret_with_shell_characters_reaches_the_runner_verbatim(tmp_path: Path) -> None:
    """The runner's OAuth secret is printable ASCII (render.py checks no more): `$`, backticks and
    backslashes must reach the env file as they are. Kills the runner env heredoc unquoted (`<<CML_ENV_EOF`)."""
    secret = "s3c$HOME`id`\\n$(true)-x"
    box = VmSandbox(tmp_path)
    cfg = dataclasses.replace(make_cfg("azure"), oauth_client_secret=secret)
    boot(box, cfg)
    assert box.runner_env()["OAUTH_CLIENT_SECRET"] == secret


def test_what_the_boot_writes_for_the_runner_and_the_users_script_is_private(tmp_path: Path) -> None:
    """The user's script may hold the user's own secrets; the agent's settings and the env file are the
    runner's. Kills `umask 077` opened to 022 and the env file's `chmod 600` widened."""
    box = VmSandbox(tmp_path)
    boot(box, make_cfg("aws", user_startup_script='TOKEN="user-secret"; echo "${TOKEN:0:0}ok" >>"$SANDBOX_LOG"'))
    for path in ("/opt/cml-runner/user-startup.sh", "/opt/cml-runner/agent.py", "/etc/cml-runner/agent.json",
                 "/etc/cml-runner/runner.env", "/var/lib/cml-runner/started_at"):  # fmt: skip
        mode = stat.S_IMODE(box.file(path).stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    assert stat.S_IMODE(box.file("/etc/cml-runner").stat().st_mode) == 0o700


def test_the_runner_image_is_pulled_before_the_runner_is_started(tmp_path: Path) -> None:
    """Kills the pull-runner-image and start-runner steps swapped."""
    box = VmSandbox(tmp_path)
    boot(box, make_cfg("gcp"))
    docker = [r[1] for r in box.records() if r[0] == "docker" and len(r) > 1 and r[1] in ("pull", "run")]
    assert docker == ["pull", "run"]


def test_a_failed_download_in_a_pipeline_stops_the_gpu_step(tmp_path: Path) -> None:
    """`curl ... | gpg --dearmor` must fail the step when curl fails (no network, NVIDIA's site down), not go
    on with an empty key. Kills `pipefail` dropped from `set -euo pipefail`."""
    box = VmSandbox(tmp_path, nvidia_driver=True, apt_has_toolkit=False)
    curl = box.bin / "curl"
    curl.write_text('#!/bin/bash\necho "curl: (6) Could not resolve host" >&2\nexit 6\n')
    curl.chmod(0o755)
    result = box.run(render_startup_script(make_cfg("gcp", gpu=True)))
    assert result.returncode != 0, result.stdout
    assert "step gpu: FAILED" in result.stdout
    assert box.docker_runs() == []


def test_a_reboot_a_minute_past_max_lifetime_powers_off_and_one_before_it_boots(tmp_path: Path) -> None:
    """MAX_LIFETIME counts from the first boot: a reboot just past it must not start the runner again,
    one just before it does, with the backup power-off at what is left plus the grace. Kills the check
    `[ "$left" -le 0 ]` loosened (e.g. to `-le -3600`: a reboot within the hour past would boot) and the
    time left computed with the wrong sign."""
    cfg = make_cfg("aws")
    late = VmSandbox(tmp_path / "late")
    late.file("/var/lib/cml-runner").mkdir(parents=True)
    late.file("/var/lib/cml-runner/started_at").write_text(f"{int(time.time()) - cfg.max_lifetime_s - 60}\n")
    boot(late, cfg)
    assert late.calls("systemctl")[-1] == ["poweroff"] and late.docker_runs() == []

    early = VmSandbox(tmp_path / "early")
    early.file("/var/lib/cml-runner").mkdir(parents=True)
    early.file("/var/lib/cml-runner/started_at").write_text(f"{int(time.time()) - cfg.max_lifetime_s + 600}\n")
    boot(early, cfg)
    assert early.docker_runs(), "the runner was not started before MAX_LIFETIME"
    [timer] = early.calls("systemd-run")
    on_active = int(next(a for a in timer if a.startswith("--on-active="))[len("--on-active=") : -1])
    assert 600 + LIFETIME_BACKUP_GRACE_S - 60 <= on_active <= 600 + LIFETIME_BACKUP_GRACE_S

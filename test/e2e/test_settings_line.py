"""What the pipe says it understood: under DEBUG only, one `NAME: value` line per variable the user set, secrets
hidden, user data by its size only; never a repr() of the settings objects. DRY_RUN shows the plan, not this."""

from __future__ import annotations

from fixtures_pipe import output_lines, run_pipe_config_only

SECRET = "aws-secret-Lq4Rt8Vm2Zx"
SCRIPT = "echo configure-the-corporate-proxy"
SET = {
    "CLOUD": "aws",
    "LABELS": "cml.runner,gpu",
    "IDLE_TIMEOUT": "10min",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "CLOUD_STARTUP_SCRIPT": SCRIPT,
    "DRY_RUN": "true",
}


def settings_lines(lines: list[str]) -> list[str]:
    start = lines.index("DEBUG: settings you set (secrets hidden):")
    return [line.removeprefix("DEBUG: ") for line in lines[start + 1 :] if line.startswith("DEBUG: ") and ": " in line]


def test_debug_lists_what_the_user_set_one_per_line_secrets_hidden() -> None:
    proc = run_pipe_config_only({**SET, "DEBUG": "true"})
    lines = output_lines(proc)
    assert proc.returncode == 0, lines
    shown = settings_lines(lines)
    for expected in (
        "CLOUD: 'aws'",
        "LABELS: 'cml.runner,gpu'",
        "IDLE_TIMEOUT: '10min'",
        "AWS_SECRET_ACCESS_KEY: <hidden>",
        f"CLOUD_STARTUP_SCRIPT: <{len(SCRIPT)} characters, not shown>",
        "DRY_RUN: 'true'",
        "DEBUG: 'true'",
    ):
        assert expected in shown, shown
    everything = "\n".join(lines)
    assert SECRET not in everything and SCRIPT not in everything
    assert "Settings(" not in everything  # no repr of CommonSettings or RunnerSettings
    assert not any(line.startswith(("BITBUCKET_COMMIT", "BITBUCKET_WORKSPACE")) for line in shown)  # Bitbucket's


def test_without_debug_there_is_no_settings_line_even_with_dry_run() -> None:
    proc = run_pipe_config_only(SET)
    everything = "\n".join(output_lines(proc))
    assert proc.returncode == 0, everything
    assert "settings" not in everything.lower() and "LABELS" not in everything

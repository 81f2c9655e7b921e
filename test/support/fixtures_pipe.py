"""Running the pipe as users do: the real entry point in a child process with a clean environment.

Other test modules use run_pipe() (or the fixture of the same name):

    proc = run_pipe({"CLOUD": "aws", "DRY_RUN": "true"})
    assert proc.returncode == 0, proc.stdout + proc.stderr

The base environment is a valid minimal pipeline context; a key set to None
in env removes it from the base. The developer's own AWS_*, GOOGLE_*, AZURE_*
and cloud config files are never seen (HOME is a fresh directory).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from fakes.isolation import isolated_env

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_ACCESS_TOKEN = "test-access-token-Zq8XvT3k"  # distinctive, so a leak is easy to find in output
# Port 9 (discard) on loopback: nothing listens, a stray request fails at once and never leaves the machine.
UNREACHABLE_API_URL = "http://127.0.0.1:9/2.0"
BASE_COMMIT = "0123456789abcdef0123456789abcdef01234567"

BASE_ENV: dict[str, str] = {
    "BITBUCKET_WORKSPACE": "test-workspace",
    "BITBUCKET_REPO_SLUG": "test-repo",
    "BITBUCKET_REPO_UUID": "{11111111-2222-3333-4444-555555555555}",
    "BITBUCKET_COMMIT": BASE_COMMIT,
    "BITBUCKET_BRANCH": "main",
    "BITBUCKET_BUILD_NUMBER": "1",
    "BITBUCKET_PIPELINE_UUID": "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}",
    "BITBUCKET_STEP_UUID": "{ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee}",
    "BITBUCKET_ACCESS_TOKEN": BASE_ACCESS_TOKEN,
    "BITBUCKET_API_URL": UNREACHABLE_API_URL,
}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_home: str | None = None


def _isolated_home() -> str:
    global _home
    if _home is None:
        _home = tempfile.mkdtemp(prefix="pipe-home-")
    return _home


def pipe_env(env: Mapping[str, str | None] | None = None, cwd: Path | str | None = None) -> dict[str, str]:
    merged: dict[str, str] = {
        **isolated_env(_isolated_home()),
        "BITBUCKET_CLONE_DIR": str(cwd or REPO_ROOT),
        **BASE_ENV,
    }
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def run_pipe(
    env: Mapping[str, str | None] | None = None,
    cwd: Path | str | None = None,
    timeout: float = 60,
    args: tuple[str, ...] = ("-m", "pipe"),
) -> subprocess.CompletedProcess[str]:
    """`python -m pipe` with BASE_ENV + env, from cwd (default: the repository root)."""
    return subprocess.run(
        [sys.executable, *args],
        env=pipe_env(env, cwd),
        cwd=str(cwd or REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# The real entry point with every command replaced by a stub: validation and output handling exactly as
# in production, but nothing after validation runs (no API calls, no retries to wait out).
CONFIG_ONLY_SCRIPT = """
import pipe.pipe as entry

class _Validated:
    @staticmethod
    def run(common, settings, *, log, env):
        return "configuration is valid"

entry._command_module = lambda command: _Validated
raise SystemExit(entry.main())
"""


def run_pipe_config_only(
    env: Mapping[str, str | None] | None = None, cwd: Path | str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Like run_pipe, but stops after the variables are validated; exit 0 means they are valid."""
    return run_pipe(env, cwd=cwd, timeout=timeout, args=("-c", CONFIG_ONLY_SCRIPT))


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def output_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """Non-empty lines of stdout and stderr together, colours removed."""
    return [line for line in strip_ansi(proc.stdout + proc.stderr).splitlines() if line.strip()]


@pytest.fixture(name="run_pipe")
def run_pipe_fixture() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_pipe

"""The Dockerfile is hadolint-clean, pinned, and its ENTRYPOINT runs the same entry point the tests run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from fixtures_pipe import REPO_ROOT, output_lines, run_pipe

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    proc = subprocess.run(
        [str(hadolint), str(REPO_ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_pinned_deps_no_cache_and_compiled() -> None:
    assert re.search(r"^FROM python:3\.11\.\d+-slim$", DOCKERFILE, re.MULTILINE)
    assert "pip install --no-cache-dir -r /requirements.txt" in DOCKERFILE
    assert "python -m compileall" in DOCKERFILE
    for line in (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"unpinned requirement: {line}"


def test_entrypoint_script_runs_from_any_directory(tmp_path: Path) -> None:
    """Bitbucket runs the pipe with the clone as working directory; a pipe/ folder there must not shadow ours."""
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert entrypoint == ["python3", "/pipe/pipe.py"]
    (tmp_path / "pipe").mkdir()
    (tmp_path / "pipe" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    proc = run_pipe({"CLOUD": "nowhere", "PYTHONPATH": None}, cwd=tmp_path, args=(str(REPO_ROOT / "pipe" / "pipe.py"),))
    assert proc.returncode == 1
    assert output_lines(proc) == ["✖ CLOUD: 'nowhere' is not valid; use one of aws, gcp, azure, kubernetes"]


def test_module_entry_point_matches() -> None:
    proc = run_pipe({"CLOUD": "nowhere"})
    assert output_lines(proc) == ["✖ CLOUD: 'nowhere' is not valid; use one of aws, gcp, azure, kubernetes"]


def test_dockerignore_keeps_the_image_small() -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[1] == "*" or "*" in ignore
    assert {"!pipe/", "!pipe.yml", "!requirements.txt"} <= set(ignore)

"""The real dvc CLI, for test_dvc_example.py and `python demo/run.py --dvc`: its own virtualenv, made once.

dvc and dvc-s3 live in .venv-dvc (requirements-dvc.txt, which is examples/dvc/requirements.txt): dvc-s3's
aiobotocore pins botocore below what the pipe's boto3 needs, so they cannot share the pipe's environment. The
first use installs it (a few minutes); later uses find it. DVC_VENV=path picks another place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DVC_VENV = Path(os.environ.get("DVC_VENV") or REPO_ROOT / ".venv-dvc")
REQUIREMENTS = REPO_ROOT / "requirements-dvc.txt"


class DvcUnavailable(Exception):
    """The dvc virtualenv could not be made; str() says why."""


def ensure_dvc(log: Callable[[str], object] = lambda _line: None) -> Path:
    """The dvc executable, installing .venv-dvc from requirements-dvc.txt when it is missing or broken."""
    dvc = DVC_VENV / "bin" / "dvc"
    if dvc.exists() and subprocess.run([dvc, "--version"], capture_output=True, check=False).returncode == 0:
        return dvc
    log(f"installing dvc into {DVC_VENV} from {REQUIREMENTS.name} (once; a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(DVC_VENV)], check=True, capture_output=True)
    pip = [str(DVC_VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)]
    proc = subprocess.run(pip, capture_output=True, text=True, timeout=1500, check=False)
    if proc.returncode != 0:
        raise DvcUnavailable(f"installing {REQUIREMENTS.name} into {DVC_VENV} failed: {proc.stderr[-1500:]}")
    return dvc


def git_repo(where: Path) -> None:
    """A git repository of the folder's files, as a Pipelines clone is (DVC runs inside one)."""
    ident = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "example"]):
        subprocess.run(["git", *ident, *args], cwd=where, check=True, capture_output=True)


def local_remote(bucket: str, endpoint: str) -> list[list[str]]:
    """The dvc commands that point the example's remote `storage` at a local S3 (in .dvc/config.local)."""
    return [
        ["remote", "modify", "--local", "storage", "url", f"s3://{bucket}/dvc"],
        ["remote", "modify", "--local", "storage", "endpointurl", endpoint],
    ]


S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

"""examples/dvc with the real dvc CLI, offline: `dvc repro`, `dvc push` to moto's S3, PR mode against the local
Bitbucket, then a clone of the PR's branch (its files, read from the local Bitbucket) gets the trained model back
byte for byte with `dvc pull` from the same remote.

dvc and dvc-s3 live in their own virtualenv (.venv-dvc, from requirements-dvc.txt, made here on first use and
kept): dvc-s3's aiobotocore pins botocore below what the pipe's boto3 needs. One test, so the cost is one
install (minutes, once) and a few dvc commands (seconds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from dvc_cli import S3_KEYS, DvcUnavailable, ensure_dvc, git_repo, local_remote
from fakes.bitbucket import FakeBitbucket
from fakes.moto import MotoServer
from fixtures_pipe import REPO_ROOT, output_lines, run_pipe

pytestmark = pytest.mark.slow

BUCKET = "dvc-example"
EXAMPLE = REPO_ROOT / "examples" / "dvc"


@pytest.fixture(scope="session")
def dvc_cli() -> Path:
    try:
        return ensure_dvc()
    except DvcUnavailable as err:
        pytest.fail(str(err))


def _dvc(dvc: Path, where: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([str(dvc), *args], cwd=where, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"dvc {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def _repo(where: Path, dvc: Path, env: dict[str, str], moto_url: str) -> None:
    """A git repository (DVC runs inside one, as in a Pipelines clone) whose remote is moto's bucket."""
    git_repo(where)
    for command in local_remote(BUCKET, moto_url):
        _dvc(dvc, where, env, *command)


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_the_example_trains_pushes_opens_a_pr_with_the_pointer_and_dvc_pull_gets_the_model_back(
    dvc_cli: Path, moto: MotoServer, bitbucket: FakeBitbucket, bb_env: dict[str, str], tmp_path: Path
) -> None:
    keys = S3_KEYS
    boto3.client("s3", endpoint_url=moto.url, **_lower(keys)).create_bucket(Bucket=BUCKET)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "DVC_NO_ANALYTICS": "true", **keys}
    work = tmp_path / "clone"
    shutil.copytree(EXAMPLE, work)
    _repo(work, dvc_cli, env, moto.url)

    # The training step: dvc repro runs train.py with the example's own interpreter, then dvc push.
    env_train = {**env, "PATH": f"{dvc_cli.parent}:{env['PATH']}"}
    _dvc(dvc_cli, work, env_train, "repro")
    _dvc(dvc_cli, work, env, "push")
    model = (work / "model.pkl").read_bytes()

    # The build's commit on the local Bitbucket holds what git tracks of the example (no model, no dvc.lock yet).
    tracked = {p.relative_to(EXAMPLE).as_posix(): p.read_bytes() for p in EXAMPLE.rglob("*") if p.is_file()}
    with bitbucket.lock:
        repo = bitbucket.repo()
        base = repo.commits[repo.branches["main"]]
        build = repo.add_commit([base.hash], "example", "Dev <dev@example.com>", {**base.tree, **tracked})
        repo.branches["main"] = build.hash
    proc = run_pipe(
        {
            **bb_env,
            "COMMAND": "pr",
            "BITBUCKET_COMMIT": build.hash,
            "BITBUCKET_CLONE_DIR": str(work),
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared"),
            "FILES": "model.pkl confusion.png metrics.json",
            "REPORT_FILE": "report.md",
            "METRICS_FILE": "metrics.json",
            "THRESHOLDS": "accuracy>=0.8",
        },
        cwd=work,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = output_lines(proc)
    assert any("FILES: model.pkl is DVC-tracked (dvc.lock, stage train): committing dvc.lock" in x for x in lines)

    with bitbucket.lock:
        [pr] = repo.pulls.values()
        tree = dict(repo.commits[repo.branches[pr.source_branch]].tree)
        comments = [c.raw for c in repo.comments.values() if c.pr_id == pr.id]
    assert "model.pkl" not in tree and "confusion.png" not in tree
    assert tree["dvc.lock"] == (work / "dvc.lock").read_bytes()
    assert tree["metrics.json"] == (work / "metrics.json").read_bytes()
    assert comments and "/downloads/" in comments[0] and "| metrics.json | accuracy |" in comments[0]

    # A clone of the PR's branch, from the local Bitbucket's files: dvc pull brings back the trained bytes.
    pulled = tmp_path / "pulled"
    for rel, data in tree.items():
        (pulled / rel).parent.mkdir(parents=True, exist_ok=True)
        (pulled / rel).write_bytes(data)
    _repo(pulled, dvc_cli, env, moto.url)
    _dvc(dvc_cli, pulled, env, "pull")
    assert (pulled / "model.pkl").read_bytes() == model
    assert (pulled / "confusion.png").read_bytes() == (work / "confusion.png").read_bytes()


def _lower(keys: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": keys["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": keys["AWS_SECRET_ACCESS_KEY"],
        "region_name": keys["AWS_DEFAULT_REGION"],
    }


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_the_demo_plays_the_dvc_scenario_and_stops_what_it_started(dvc_cli: Path, tmp_path: Path) -> None:
    """`make demo DEMO_ARGS=--dvc`: train, push, PR, then dvc pull on the PR's branch gives the model back."""
    state = tmp_path / "state.json"
    argv = [sys.executable, str(REPO_ROOT / "demo" / "run.py"), "--dvc", "--workdir", str(tmp_path / "work")]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.run(
        [*argv, "--state-out", str(state)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "files in the commit: dvc.lock, metrics.json" in out
    assert "FILES: model.pkl is DVC-tracked (dvc.lock, stage train): committing dvc.lock" in out
    assert "identical to the trained one" in out
    pids = json.loads(state.read_text())["pids"]
    for pid in pids.values():  # every child (the pipe runs, dvc, moto) is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)

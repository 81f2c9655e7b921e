"""Bitbucket API calls of report mode and PR mode, counted by the local Bitbucket.

Typical builds, as in test/e2e/test_report_bitbucket.py and test/e2e/test_pr_bitbucket.py:
- report: a PR build whose report.md embeds two images (uploaded) and a metrics file diffed
  against the destination branch, with a threshold (Code Insights report), UPDATE=true;
- pr: a build that trained a model and metrics, opening a PR with them (no merge).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.servers import PipeProcess, Servers
from bench.table import Row
from pipe.bitbucket.client import Auth, BitbucketClient

PNG = b"\x89PNG\r\n\x1a\n" + b"confusion-matrix" * 4


def _commit_to(servers: Servers, branch: str, files: dict[str, bytes]) -> str:
    bb = servers.bitbucket
    with bb.lock:
        repo = bb.repo()
        parent = repo.branches.get(branch) or repo.branches[repo.main_branch]
        tree = {**repo.commits[parent].tree, **files}
        commit = repo.add_commit([parent], f"update {branch}", "Dev <dev@example.com>", tree)
        repo.branches[branch] = commit.hash
        return commit.hash


def report_calls(servers: Servers, clone: Path) -> int:
    servers.reset()
    (clone / "plots").mkdir(parents=True, exist_ok=True)
    (clone / "plots" / "cm.png").write_bytes(PNG)
    (clone / "plots" / "roc.png").write_bytes(PNG + b"roc")
    (clone / "report.md").write_text("# Report\n\n![cm](plots/cm.png)\n\n![roc](plots/roc.png)\n")
    (clone / "metrics.json").write_bytes(b'{"acc": 0.95, "loss": 0.2}')
    _commit_to(servers, "main", {"metrics.json": b'{"acc": 0.9, "loss": 0.25}'})
    head = _commit_to(servers, "feature", {"metrics.json": b'{"acc": 0.95, "loss": 0.2}'})
    bb = servers.bitbucket
    client = BitbucketClient(Auth(access_token=servers.bitbucket_env()["BITBUCKET_ACCESS_TOKEN"]),
                             "acme", "ml-seeds", bb.url, max_retries=0)  # fmt: skip
    pr = client.create_pull_request(
        title="Train", description="", source_branch="feature", destination_branch="main", close_source_branch=False
    )
    before = bb.request_count()
    env = {
        **servers.bitbucket_env(),
        "COMMAND": "report",
        "BITBUCKET_COMMIT": head,
        "BITBUCKET_BRANCH": "feature",
        "BITBUCKET_PR_ID": str(pr.id),
        "REPORT_FILE": "report.md",
        "METRICS_FILE": "metrics.json",
        "THRESHOLDS": "acc>=0.9",
        "UPDATE": "true",
    }
    return _run(servers, env, clone, before, "report")


def pr_calls(servers: Servers, clone: Path) -> int:
    servers.reset()
    (clone / "model").mkdir(parents=True, exist_ok=True)
    (clone / "model" / "random_forest.joblib").write_bytes(bytes(range(256)) * 64)
    (clone / "metrics").mkdir(exist_ok=True)
    (clone / "metrics" / "scores.json").write_bytes(b'{"accuracy": 0.93}\n')
    env = {**servers.bitbucket_env(), "COMMAND": "pr", "FILES": "model/*.joblib metrics/*.json"}
    return _run(servers, env, clone, servers.bitbucket.request_count(), "pr")


def _run(servers: Servers, env: dict[str, str], clone: Path, before: int, mode: str) -> int:
    proc = PipeProcess({**env, "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(clone / ".shared")}, cwd=clone)
    returncode = proc.join(60)
    if returncode != 0:
        raise RuntimeError(f"{mode} mode failed (exit {returncode}):\n{proc.output[-2000:]}")
    return servers.bitbucket.request_count() - before


def rows(servers: Servers) -> list[Row]:
    out = []
    for mode, count in (("report", report_calls), ("pr", pr_calls)):
        with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as tmp:
            try:
                calls = count(servers, Path(tmp))
                out.append(Row(f"Bitbucket API calls: {mode} mode", f"{calls} calls", "-", None, {"calls": calls}))
            except (RuntimeError, OSError) as problem:
                out.append(Row(f"Bitbucket API calls: {mode} mode", f"failed: {str(problem).splitlines()[0]}",
                               "-", False))  # fmt: skip
    servers.reset()
    return out

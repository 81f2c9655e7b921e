"""Report mode on a DVC project, through the real entry point against the local Bitbucket: DVC's metrics diffed
against the destination branch's commit as DVC sees them, and DVC's plot images published like any image.

The destination's dvc.lock is read through the Bitbucket API (no git); the object it names comes from the
clone's local DVC cache (written by hand in DVC 3's layout: test/support/dvc_repo.py), so no dvc CLI is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dvc_repo
import pytest
from fakes.bitbucket import DEFAULT_TOKEN, FakeBitbucket
from fixtures_pipe import output_lines, run_pipe

from pipe.bitbucket.client import Auth, BitbucketClient

OLD = {"accuracy": 0.9, "train": {"loss": 0.25}}
NEW = {"accuracy": 0.93, "train": {"loss": 0.2}}


def _bytes(metrics: dict[str, object]) -> bytes:
    return json.dumps(metrics).encode() + b"\n"


def _commit(fake: FakeBitbucket, branch: str, files: dict[str, bytes]) -> str:
    with fake.lock:
        repo = fake.repo()
        parent = repo.branches.get(branch) or repo.branches["main"]
        commit = repo.add_commit(
            [parent], f"update {branch}", "Dev <dev@example.com>", {**repo.commits[parent].tree, **files}
        )
        repo.branches[branch] = commit.hash
        return commit.hash


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    root.mkdir()
    dvc_repo.write_project(root, b"model", NEW)
    (root / "report.md").write_text("# Training report\n\n![confusion](dvc_plots/confusion.png)\n")
    return root


def _run(fake: FakeBitbucket, bb_env: dict[str, str], clone: Path, **variables: str) -> tuple[list[str], str]:
    """The build of branch `feature` with an open PR into main; returns the output lines and the comment."""
    head = _commit(fake, "feature", {"train.py": b"print('better')\n"})
    client = BitbucketClient(Auth(access_token=DEFAULT_TOKEN), "acme", "ml-seeds", fake.url, max_retries=0)
    pr = client.create_pull_request(
        title="Train", description="", source_branch="feature", destination_branch="main", close_source_branch=False
    )
    env = {
        **bb_env,
        "COMMAND": "report",
        "BITBUCKET_COMMIT": head,
        "BITBUCKET_BRANCH": "feature",
        "BITBUCKET_PR_ID": str(pr.id),
        "REPORT_FILE": "report.md",
        **variables,
    }
    proc = run_pipe(env, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with fake.lock:
        [raw] = [c.raw for c in fake.repo().comments.values() if c.pr_id == pr.id]
    return output_lines(proc), raw


def test_a_cached_dvc_metrics_file_is_diffed_against_what_the_targets_dvc_lock_records(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path
) -> None:
    """main has no metrics.json in git: its dvc.lock records it (a cached output) and `dvc pull` left it in the
    local cache, so Old is main's metrics, as `dvc metrics diff main` shows them."""
    old = _bytes(OLD)
    main_lock = dvc_repo.lock({"model.pkl": b"old model", "metrics.json": old})
    _commit(bitbucket, "main", {"dvc.yaml": dvc_repo.DVC_YAML.replace("cache: false", "cache: true").encode()})
    _commit(bitbucket, "main", {"dvc.lock": main_lock.encode()})
    main_head = bitbucket.repo().branches["main"]
    dvc_repo.cache(clone, old)

    _, raw = _run(bitbucket, bb_env, clone, METRICS_FILE="metrics.json")

    assert "| metrics.json | accuracy | 0.9 | 0.93 | +0.03 |" in raw
    assert "| metrics.json | train.loss | 0.25 | 0.2 | -0.05 |" in raw
    assert (
        f"Old: `metrics.json` on `main` at {main_head[:12]}, from DVC's cache (md5 {dvc_repo.md5(old)[:8]} in " in raw
    )
    assert "dvc.lock, stage train)" in raw


def test_a_target_metrics_file_only_in_a_remote_says_to_dvc_pull(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path
) -> None:
    _commit(bitbucket, "main", {"dvc.lock": dvc_repo.lock({"metrics.json": _bytes(OLD)}).encode()})

    _, raw = _run(bitbucket, bb_env, clone, METRICS_FILE="metrics.json")

    assert "| metrics.json | accuracy | - | 0.93 | - |" in raw
    assert "is in DVC's cache only (md5 " in raw and "`dvc pull` before the pipe" in raw


def test_a_toml_metrics_file_is_read_and_diffed(bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path) -> None:
    """DVC reads JSON, YAML and TOML metrics; a committed one is read from git at the target's head."""
    (clone / "metrics.toml").write_text("accuracy = 0.93\n[train]\nloss = 0.2\n")
    _commit(bitbucket, "main", {"metrics.toml": b"accuracy = 0.9\n[train]\nloss = 0.25\n"})

    _, raw = _run(bitbucket, bb_env, clone, METRICS_FILE="metrics.toml")

    assert "| metrics.toml | accuracy | 0.9 | 0.93 | +0.03 |" in raw
    assert "| metrics.toml | train.loss | 0.25 | 0.2 | -0.05 |" in raw


def test_a_dvc_plot_image_linked_from_the_cache_is_published(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path
) -> None:
    """With `cache.type symlink` the workspace's plot is a link into .dvc/cache: published like any image."""
    png = (clone / "confusion.png").read_bytes()
    digest = dvc_repo.md5(png)
    (clone / "dvc_plots").mkdir()
    os.symlink(
        clone / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:], clone / "dvc_plots" / "confusion.png"
    )

    lines, raw = _run(bitbucket, bb_env, clone)

    with bitbucket.lock:
        uploaded = {name: d.content for name, d in bitbucket.repo().downloads.items()}
    [(name, content)] = uploaded.items()
    assert content == png and name.endswith("confusion.png")
    assert f"/downloads/{name})" in raw
    assert not [line for line in lines if "WARNING" in line.upper() and "confusion" in line]


def test_a_cache_object_linked_outside_the_clone_is_never_read(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    """The local cache is the clone's: an object that is a symlink to a file elsewhere is not parsed and posted."""
    secret = tmp_path / "outside.json"
    secret.write_text('{"accuracy": 0.12345}\n')
    digest = dvc_repo.md5(b"whatever main recorded")
    link = clone / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, link)
    lock = dvc_repo.lock({"metrics.json": b"whatever main recorded"})
    _commit(bitbucket, "main", {"dvc.lock": lock.encode()})

    _, raw = _run(bitbucket, bb_env, clone, METRICS_FILE="metrics.json")

    assert "0.12345" not in raw
    assert "in DVC's cache cannot be read" in raw and "outside the clone directory" in raw


def test_a_target_dvc_lock_that_is_not_one_leaves_no_old_values(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path
) -> None:
    _commit(bitbucket, "main", {"dvc.lock": b"stages: [unclosed\n"})

    _, raw = _run(bitbucket, bb_env, clone, METRICS_FILE="metrics.json")

    assert "| metrics.json | accuracy | - | 0.93 | - |" in raw
    assert "Old: none (no `metrics.json` on `main` at " in raw


def test_a_link_to_dvc_s_local_config_is_never_published(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path
) -> None:
    """`dvc remote modify --local` keeps the remote's keys in .dvc/config.local: a link to it stays a link."""
    (clone / "report.md").write_text("# Report\n\n[remote settings](.dvc/config.local)\n")

    lines, raw = _run(bitbucket, bb_env, clone)

    with bitbucket.lock:
        assert bitbucket.repo().downloads == {}
    assert "not-for-git" not in raw and "(.dvc/config.local)" in raw
    assert any(".dvc/config.local" in line and "credentials" in line for line in lines)

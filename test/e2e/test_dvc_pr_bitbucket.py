"""PR mode on a DVC project, through the real entry point against the local Bitbucket: the pointer and the lock
go to git, the data never does.

The DVC files are written by hand in DVC's documented formats (test/support/dvc_repo.py): PR mode only reads
them, so these tests need no dvc CLI (test_dvc_example.py runs the real one).
"""

from __future__ import annotations

from pathlib import Path

import dvc_repo
import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import output_lines, run_pipe

SRC_POST = "POST /repositories/{workspace}/{repo_slug}/src"
MODEL = bytes(range(256)) * 64 + b"\r\n\x00 trained"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    root.mkdir()
    dvc_repo.write_project(root, MODEL, {"accuracy": 0.93, "loss": 0.21})
    return root


@pytest.fixture
def env(bb_env: dict[str, str], clone: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **bb_env,
        "COMMAND": "pr",
        "BITBUCKET_CLONE_DIR": str(clone),
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared"),
    }


def _head_tree(bitbucket: FakeBitbucket) -> dict[str, bytes]:
    repo = bitbucket.repo()
    [branch] = [b for b in repo.branches if b != "main"]
    return repo.commits[repo.branches[branch]].tree


def test_a_dvc_output_in_files_commits_its_lock_and_the_metrics_never_the_model(
    bitbucket: FakeBitbucket, env: dict[str, str], clone: Path
) -> None:
    proc = run_pipe({**env, "FILES": "model.pkl metrics.json confusion.png"}, cwd=clone)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    tree = _head_tree(bitbucket)
    assert "model.pkl" not in tree and "confusion.png" not in tree
    assert tree["dvc.lock"] == (clone / "dvc.lock").read_bytes()
    assert tree["metrics.json"] == (clone / "metrics.json").read_bytes()  # cache: false, meant for git
    lines = output_lines(proc)
    [said] = [line for line in lines if "model.pkl" in line and "DVC-tracked" in line]
    assert "FILES: model.pkl is DVC-tracked (dvc.lock, stage train): committing dvc.lock, not its 16,395 bytes" in said
    assert "dvc push" in said
    assert [line for line in lines if "confusion.png is DVC-tracked" in line]
    assert not [line for line in lines if "metrics.json is DVC-tracked" in line]


def test_a_directory_that_a_dvc_file_tracks_commits_the_dvc_file(
    bitbucket: FakeBitbucket, env: dict[str, str], clone: Path
) -> None:
    proc = run_pipe({**env, "FILES": "data"}, cwd=clone)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    tree = _head_tree(bitbucket)
    assert tree["data.dvc"] == (clone / "data.dvc").read_bytes()
    assert not [p for p in tree if p.startswith("data/")]
    assert any("FILES: data/ (2 files) is DVC-tracked (data.dvc): committing data.dvc" in x for x in output_lines(proc))


def test_a_big_file_a_dvc_file_tracks_with_other_data_recorded_is_refused_with_dvc_push(
    bitbucket: FakeBitbucket, env: dict[str, str], clone: Path
) -> None:
    """Trained again after `dvc add`, without `dvc commit`: the pointer names the old model, so nothing goes."""
    big = clone / "weights.bin"
    with big.open("wb") as handle:
        handle.truncate(51_000_000)
    recorded = {"md5": dvc_repo.md5(b"the model dvc add saw"), "size": 21, "hash": "md5", "path": "weights.bin"}
    (clone / "weights.bin.dvc").write_text(f"outs:\n- {recorded}\n".replace("'", ""))

    proc = run_pipe({**env, "FILES": "weights.bin metrics.json"}, cwd=clone)

    assert proc.returncode == 1
    [line] = [x for x in output_lines(proc) if "weights.bin" in x]
    assert line.startswith("✖ FILES: weights.bin (51.0 MB) is bigger than 50.0 MB and is tracked by DVC")
    assert "(weights.bin.dvc), which records other data" in line
    assert "`dvc push` it" in line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert bitbucket.request_count(SRC_POST) == 0
    assert bitbucket.repo().pulls == {}


def test_a_whole_clone_pattern_leaves_dvc_internals_and_data_out(
    bitbucket: FakeBitbucket, env: dict[str, str], clone: Path
) -> None:
    proc = run_pipe({**env, "FILES": "."}, cwd=clone)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    tree = _head_tree(bitbucket)
    assert not [p for p in tree if p.startswith((".dvc/cache", ".dvc/config.local", "data/"))]
    assert "not-for-git" not in repr(tree)
    assert {"dvc.lock", "dvc.yaml", "data.dvc", "metrics.json", ".dvc/config", "train.py"} <= set(tree)
    assert "model.pkl" not in tree
    assert any("left out" in x and ".dvc/" in x for x in output_lines(proc))


def test_a_dvc_lock_that_cannot_be_read_stops_before_any_call(
    bitbucket: FakeBitbucket, env: dict[str, str], clone: Path
) -> None:
    (clone / "dvc.lock").write_text("stages: [unclosed\n")

    proc = run_pipe({**env, "FILES": "model.pkl"}, cwd=clone)

    assert proc.returncode == 1
    [line] = [x for x in output_lines(proc) if "dvc.lock" in x]
    assert "FILES: dvc.lock: not valid YAML" in line
    assert "Traceback" not in proc.stdout + proc.stderr
    assert bitbucket.request_count() == 0


def test_a_dvc_2_pointer_of_a_crlf_text_file_stands_for_it(
    bitbucket: FakeBitbucket, env: dict[str, str], clone: Path
) -> None:
    """DVC 2.x recorded a text file's md5 with CRLF read as LF, and wrote no `hash:` field."""
    (clone / "labels.csv").write_bytes(b"id,label\r\n1,cat\r\n")
    legacy = dvc_repo.md5(b"id,label\n1,cat\n")
    (clone / "labels.csv.dvc").write_text(f"outs:\n- md5: {legacy}\n  size: 17\n  path: labels.csv\n")

    proc = run_pipe({**env, "FILES": "labels.csv"}, cwd=clone)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    tree = _head_tree(bitbucket)
    assert "labels.csv" not in tree and "labels.csv.dvc" in tree

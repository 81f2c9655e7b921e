"""FILES patterns resolved in the clone directory, and the size check that runs before any API call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipe.pr import PrError
from pipe.pr.files import MAX_COMMIT_BYTES, LocalFile, check_size, collect, read


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    for rel, data in {
        "model/rf.joblib": b"\x80\x04\x95\x00\xffbinary",
        "model/nested/deep/w.bin": b"\x00\x01",
        "metrics/a.json": b"{}",
        "metrics/sub/b.json": b"[]",
        "README.md": b"# seeds\n",
        ".git/config": b"[core]\n",
        ".hidden/x.json": b"{}",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def paths(files: list[LocalFile]) -> list[str]:
    return [f.path for f in files]


def test_literal_glob_and_recursive_glob(clone: Path) -> None:
    assert paths(collect(["model/rf.joblib"], clone)) == ["model/rf.joblib"]
    assert paths(collect(["metrics/*.json"], clone)) == ["metrics/a.json"]
    assert paths(collect(["**/*.json"], clone)) == ["metrics/a.json", "metrics/sub/b.json"]
    assert paths(collect(["./README.md"], clone)) == ["README.md"]


def test_directory_brings_files_under_it_and_duplicates_collapse(clone: Path) -> None:
    got = collect(["model", "model/**/*.bin"], clone)
    assert paths(got) == ["model/nested/deep/w.bin", "model/rf.joblib"]
    assert {f.path: f.size for f in got} == {"model/nested/deep/w.bin": 2, "model/rf.joblib": 11}


def test_whole_clone_skips_git_dir(clone: Path) -> None:
    assert ".git/config" not in paths(collect(["."], clone))


def test_pattern_matching_nothing_is_named(clone: Path) -> None:
    with pytest.raises(PrError, match=r"FILES: 'model/\*\.pkl' matches no file"):
        collect(["model/rf.joblib", "model/*.pkl"], clone)


def test_empty_directory_matches_nothing(clone: Path) -> None:
    (clone / "empty").mkdir()
    with pytest.raises(PrError, match="'empty' matches no file"):
        collect(["empty"], clone)


def test_symlink_out_of_the_clone_is_refused(clone: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    os.symlink(secret, clone / "model" / "link.txt")
    with pytest.raises(PrError, match="outside the clone directory"):
        collect(["model/link.txt"], clone)


def test_read_is_byte_exact(clone: Path) -> None:
    assert read(collect(["model/rf.joblib"], clone)) == {"model/rf.joblib": b"\x80\x04\x95\x00\xffbinary"}


def test_size_limit_counts_the_whole_commit_and_suggests_dvc_or_lfs() -> None:
    half = MAX_COMMIT_BYTES // 2
    check_size([LocalFile("a", Path("a"), half), LocalFile("b", Path("b"), MAX_COMMIT_BYTES - half)])
    with pytest.raises(PrError) as err:
        check_size([LocalFile("a", Path("a"), half), LocalFile("model/big.bin", Path("b"), half + 1)])
    message = str(err.value)
    assert "model/big.bin (5.0 MB)" in message
    assert "DVC remote storage" in message
    assert "Git LFS" in message


def test_size_is_checked_from_stat_without_reading(clone: Path) -> None:
    big = clone / "model" / "huge.bin"
    with big.open("wb") as f:  # sparse: no disk used, nothing read
        f.truncate(MAX_COMMIT_BYTES + 1)
    with pytest.raises(PrError, match="DVC remote storage"):
        check_size(collect(["model/huge.bin"], clone))

"""The files to commit: FILES patterns resolved in the clone directory, size-checked, read as bytes."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipe import paths
from pipe.bitbucket.client import SRC_MAX_COMMIT_BYTES
from pipe.pr import PrError

# Bigger models belong in DVC remote storage or Git LFS.
MAX_COMMIT_BYTES = SRC_MAX_COMMIT_BYTES


@dataclass(frozen=True)
class LocalFile:
    path: str  # repository path, posix, relative to the clone directory
    source: Path  # where it is on disk
    size: int


def collect(patterns: Iterable[str], clone_dir: Path) -> list[LocalFile]:
    """Every file the patterns match (a matched directory brings all files under it), sorted by path.

    A pattern that matches nothing is an error naming it; so is a match that leads outside the clone or into
    .git, or is not a regular file (pipe/paths.py: the rule every path the pipe reads follows).
    """
    root = paths.clone_root(clone_dir)
    found: dict[str, LocalFile] = {}
    for pattern in patterns:
        matches = glob.glob(pattern, root_dir=root, recursive=True)
        candidates = [f for m in matches for f in _files_under(root, root / m)]
        if not candidates:
            raise PrError(f"FILES: {pattern!r} matches no file in the clone directory {root}")
        for source in candidates:
            path = _repo_path(root, source, pattern)
            try:
                real = paths.resolve(root, path).real
            except paths.PathRefused as why:
                raise PrError(f"FILES: {pattern!r} matches {path}, which is refused: {why}") from None
            found[path] = LocalFile(path=path, source=real, size=real.stat().st_size)
    return [found[p] for p in sorted(found)]


def _files_under(root: Path, match: Path) -> list[Path]:
    """A matched file, or the files under a matched directory; a directory's own .git is skipped, not refused."""
    if match.is_dir():
        return sorted(
            p for p in match.rglob("*") if p.is_file() and not paths.has_git_part(p.relative_to(root).as_posix())
        )
    return [match] if match.is_file() or match.is_symlink() else []


def _repo_path(root: Path, source: Path, pattern: str) -> str:
    normal = Path(os.path.normpath(source))
    if not normal.is_relative_to(root):
        raise PrError(f"FILES: {pattern!r} leads to {source}, outside the clone directory {root}")
    return normal.relative_to(root).as_posix()


def check_size(files: list[LocalFile], limit: int = MAX_COMMIT_BYTES) -> None:
    """Refuse, before any API call, what one commit through the Bitbucket API cannot carry."""
    total = sum(f.size for f in files)
    if total <= limit:
        return
    biggest = ", ".join(f"{f.path} ({_mb(f.size)})" for f in sorted(files, key=lambda f: -f.size)[:3])
    raise PrError(
        f"FILES: {_mb(total)} to commit, more than the {_mb(limit)} one commit through the Bitbucket API can carry "
        f"(largest: {biggest}). Keep large files out of git: push them to DVC remote storage (dvc add + dvc push) "
        f"or track them with Git LFS, and commit the small .dvc or LFS pointer files instead"
    )


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def read(files: list[LocalFile]) -> dict[str, bytes]:
    return {f.path: paths.read_bytes(f.source) for f in files}

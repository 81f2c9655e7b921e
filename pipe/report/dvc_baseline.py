"""The destination branch's metrics as DVC sees them, when its commit has no such file in git.

`dvc metrics diff` reads a metrics file at a revision from git when it is committed (`cache: false`, the usual
way), else from DVC's cache by the md5 that revision's dvc.lock (or .dvc file) records for it. The pipe does
the same without git or DVC: it reads the destination's dvc.lock through the Bitbucket API (the directories
above the metrics file, then the root) and the object it names from the clone's local DVC cache
(`.dvc/cache/files/md5/..`, filled by `dvc repro` or `dvc pull` earlier in the step). It never reads a remote.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Protocol

from pipe import paths
from pipe.formats import dvc, metrics
from pipe.formats.metrics import MAX_FILE_BYTES, Metric


class FileReader(Protocol):
    def get_file(self, commit: str, path: str) -> bytes | None: ...


def _text(content: bytes | None) -> str | None:
    if content is None or len(content) > dvc.MAX_DVC_FILE_BYTES:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def recorded(client: FileReader, commit: str, path: str) -> dvc.Out | None:
    """The output DVC records for `path` at `commit`: a .dvc file beside it, else a dvc.lock above it."""
    for above in dvc.ancestors(path):
        text = _text(client.get_file(commit, above + ".dvc"))
        if text is not None:
            try:
                out = dvc.covering(dvc.parse_dvcfile(text, above + ".dvc"), path)
            except dvc.DvcFileError:
                out = None
            if out is not None:
                return out
    for folder in dvc.lock_dirs(path):
        lock = posixpath.join(folder, dvc.LOCK)
        text = _text(client.get_file(commit, lock))
        if text is None:
            continue
        stages = _text(client.get_file(commit, posixpath.join(folder, dvc.STAGES)))
        try:
            out = dvc.covering(dvc.parse_lock(text, lock, stages), path)
        except dvc.DvcFileError:
            continue
        if out is not None and out.path == path:
            return out
    return None


def from_cache(
    client: FileReader, commit: str, path: str, clone_dir: str | Path, where: str
) -> tuple[dict[str, Metric] | None, str] | None:
    """(metrics, what Old is) from DVC's cache, or None when DVC records nothing for `path` at `commit`.

    `where` names the file on the branch (`metrics.json` on `main` at abc123) for the baseline line."""
    out = recorded(client, commit, path)
    if out is None or not out.md5:
        return None
    short = f"md5 {out.md5[:8]} in {out.recorder()}"
    root = paths.clone_root(clone_dir)
    cached = dvc.cache_object(root, out.md5)
    if cached is None:
        return None, (
            f"none ({where} is in DVC's cache only ({short}), not in git nor in this clone's DVC cache: "
            "`dvc pull` before the pipe, or mark the metrics file `cache: false`)"
        )
    try:  # the object may be a symlink: read only what resolves to a regular file inside the clone
        content = paths.read_bytes(paths.resolve(root, cached.relative_to(root).as_posix()), max_bytes=MAX_FILE_BYTES)
        return metrics.parse(content.decode("utf-8"), path), f"{where}, from DVC's cache ({short})"
    except (OSError, UnicodeDecodeError, paths.PathRefused, metrics.MetricsError) as err:
        return None, f"none ({where} in DVC's cache cannot be read: {err})"

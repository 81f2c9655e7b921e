"""FILES that DVC tracks: PR mode commits the pointer (the `.dvc` file or the stage's dvc.lock), never the data.

A file FILES matches is a DVC output when a `.dvc` file beside it (or beside a directory above it) or a dvc.lock
in a directory above it records it (pipe/formats/dvc.py reads them). Such a file is replaced by its pointer, with
one line saying so, when the pointer records exactly this data (its md5 matches), so that `dvc pull` on the PR's
branch brings back these bytes once `dvc push` has run. A tracked file whose pointer records other data (trained
again after `dvc repro`/`dvc add`, without `dvc commit`) is refused: the pointer would name a different model.
Outputs marked `cache: false` in dvc.yaml (metrics, small plots) are meant for git and are committed as they are.
What DVC keeps out of git under `.dvc/` (its cache, tmp and config.local, which may hold the remote's
credentials: dvc.org/doc/user-guide/project-structure/internal-files) is left out.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipe import paths
from pipe.formats import dvc
from pipe.pr import PrError
from pipe.pr.files import LocalFile

# A file this big is never committed through the API (the commit carries 10 MB in all): the pointer is the way.
BIG_BYTES = 50_000_000
_DVC_PRIVATE = (".dvc/cache/", ".dvc/tmp/", ".dvc/config.local")


class Log(Protocol):
    def info(self, msg: str) -> object: ...


@dataclass
class _Pointers:
    """The clone's .dvc files and dvc.lock files, each read once."""

    root: Path
    outs: dict[str, list[dvc.Out] | None] = field(default_factory=dict)

    def _read(self, rel: str) -> str | None:
        if not (self.root / rel).is_file():
            return None
        try:
            real = paths.resolve(self.root, rel)
            return paths.read_bytes(real, max_bytes=dvc.MAX_DVC_FILE_BYTES).decode("utf-8")
        except (paths.PathRefused, OSError, UnicodeDecodeError) as err:
            raise PrError(f"FILES: the DVC file {rel} cannot be read ({err}); PR mode reads it") from None

    def _outs(self, rel: str) -> list[dvc.Out]:
        if rel not in self.outs:
            text = self._read(rel)
            try:
                if text is None:
                    self.outs[rel] = None
                elif rel.endswith(".dvc"):
                    self.outs[rel] = dvc.parse_dvcfile(text, rel)
                else:
                    stages = self._read(posixpath.join(posixpath.dirname(rel), dvc.STAGES))
                    self.outs[rel] = dvc.parse_lock(text, rel, stages)
            except dvc.DvcFileError as err:
                raise PrError(f"FILES: {err}") from None
        return self.outs[rel] or []

    def find(self, path: str) -> dvc.Out | None:
        for above in dvc.ancestors(path):
            out = dvc.covering(self._outs(above + ".dvc"), path)
            if out is not None:
                return out
        for folder in dvc.lock_dirs(path):
            out = dvc.covering(self._outs(posixpath.join(folder, dvc.LOCK)), path)
            if out is not None:
                return out
        return None


def keep_data_out(local: list[LocalFile], clone_dir: Path, log: Log) -> list[LocalFile]:
    """The files to commit: DVC-tracked data replaced by its pointer (one line each), .dvc/ internals left out."""
    root = paths.clone_root(clone_dir)
    pointers = _Pointers(root)
    kept: dict[str, LocalFile] = {}
    swapped: dict[str, list[LocalFile]] = {}
    outputs: dict[str, dvc.Out] = {}
    private = [f.path for f in local if f.path.startswith(_DVC_PRIVATE)]
    for f in local:
        if f.path in private or f.path.endswith(".dvc") or posixpath.basename(f.path) in (dvc.LOCK, dvc.STAGES):
            if f.path not in private:
                kept[f.path] = f
            continue
        out = pointers.find(f.path)
        if out is None or not out.cache:
            kept[f.path] = f
            continue
        _check_recorded(root, f, out)
        swapped.setdefault(out.path, []).append(f)
        outputs[out.path] = out
    if private:
        log.info(
            f"FILES: left out {len(private)} file(s) under .dvc/ that DVC keeps out of git (cache, tmp, "
            f"config.local): {', '.join(private[:3])}{', ...' if len(private) > 3 else ''}"
        )
    for out_path, data in swapped.items():
        out = outputs[out_path]
        kept[out.pointer] = _pointer_file(root, out.pointer)
        shown = data[0].path if len(data) == 1 else f"{out_path}/ ({len(data)} files)"
        log.info(
            f"FILES: {shown} is DVC-tracked ({out.recorder()}): committing {out.pointer}, not its "
            f"{_mb(sum(f.size for f in data))} of data (`dvc push` keeps the data on the DVC remote)"
        )
    return [kept[p] for p in sorted(kept)]


def _check_recorded(root: Path, f: LocalFile, out: dvc.Out) -> None:
    """Refuse a tracked file whose pointer records other data: committing the pointer would name another model."""
    recorded = out.md5
    if out.is_dir and recorded is not None:
        listing = dvc.cache_object(root, recorded)
        member = f.path[len(out.path) + 1 :]
        try:
            recorded = dvc.dir_listing(listing.read_bytes(), out.pointer).get(member) if listing else None
        except dvc.DvcFileError as err:
            raise PrError(f"FILES: {err}") from None
        why = "" if listing else f"; the listing of {out.path}/ is not in the local DVC cache"
    else:
        why = ""
    if recorded and (out.is_dir or out.size in (None, f.size)) and recorded in dvc.file_md5(f.source, out.legacy):
        return
    big = f" is bigger than {_mb(BIG_BYTES)} and" if f.size > BIG_BYTES else ""
    raise PrError(
        f"FILES: {f.path} ({_mb(f.size)}){big} is tracked by DVC ({out.recorder()}), which records other data"
        f"{why}: run `dvc commit {out.path}` (or `dvc repro`) and `dvc push` it, then PR mode commits "
        f"{out.pointer}; the data itself is never committed"
    )


def _pointer_file(root: Path, pointer: str) -> LocalFile:
    real = paths.resolve(root, pointer).real
    return LocalFile(path=pointer, source=real, size=real.stat().st_size)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"

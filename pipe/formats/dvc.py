"""DVC's own files, read without DVC: which output a path is, the hash DVC recorded for it, and its cache copy.

The formats, as dvc.org documents them:

- `.dvc` files (dvc.org/doc/user-guide/project-structure/dvc-files): `outs:` is a list of
  `{path, md5, size, hash: md5}`; `path` is relative to the `.dvc` file's directory; a directory output's
  md5 ends in `.dir`.
- `dvc.lock` (dvc.org/doc/user-guide/project-structure/dvcyaml-files, "dvc.lock file"): `stages:` maps a
  stage name to `{cmd, deps, outs}`; `outs` lists every output of the stage, its `metrics` and `plots` too,
  as `{path, md5, size, hash: md5}`, relative to the stage's `wdir` (default the dvc.lock's directory).
- `dvc.yaml`: a stage's `outs`, `metrics` and `plots` are paths, or one-key mappings `{path: {cache: false}}`;
  `cache: false` means the file is meant for git, not for DVC's cache. Outputs are cached unless told.
- `hash: md5` (DVC 3) is the md5 of the file's bytes; without it (DVC 2.x files) DVC hashed a text file
  after turning CRLF into LF (dvc.org/doc/user-guide/upgrade, "md5 hashes"). Both are accepted here.
- The cache keeps an object at `.dvc/cache/files/md5/<first 2 hex>/<other 30>` (DVC 3), `.dvc/cache/<2>/<30>`
  before (dvc.org/doc/user-guide/project-structure/internal-files, "Structure of the cache directory"); a
  directory's `.dir` object is a JSON list of `{md5, relpath}`.

Every failure is a DvcFileError naming the file, in one line.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipe.errors import PipeError

MAX_DVC_FILE_BYTES = 5_000_000  # dvc.lock of a large project is tens of kilobytes
LOCK = "dvc.lock"
STAGES = "dvc.yaml"
CACHE_DIRS = (".dvc/cache/files/md5", ".dvc/cache")  # DVC 3, then DVC 2.x
_HEX = frozenset("0123456789abcdef")


class DvcFileError(PipeError):
    """A DVC file cannot be understood; str() names it and says why."""


@dataclass(frozen=True)
class Out:
    """One output DVC records: where it is, its hash, and the file (a .dvc file or a dvc.lock) recording it."""

    path: str  # posix, relative to the clone's root
    md5: str | None  # ends in ".dir" for a directory
    size: int | None
    legacy: bool  # no `hash: md5`: a DVC 2.x hash (text hashed with CRLF as LF)
    pointer: str  # the .dvc file or dvc.lock, relative to the clone's root
    stage: str = ""  # the dvc.lock stage; "" for a .dvc file
    cache: bool = True  # False: `cache: false` in dvc.yaml, the file is meant for git

    @property
    def is_dir(self) -> bool:
        return bool(self.md5 and self.md5.endswith(".dir"))

    def recorder(self) -> str:
        return f"{self.pointer}, stage {self.stage}" if self.stage else self.pointer


def _load(text: str, name: str) -> object:
    if len(text) > MAX_DVC_FILE_BYTES:
        raise DvcFileError(f"{name}: larger than {MAX_DVC_FILE_BYTES:,} bytes; not a DVC file")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise DvcFileError(f"{name}: not valid YAML ({str(err).splitlines()[0]})") from None


def _join(directory: str, path: object, name: str) -> str:
    if not isinstance(path, str) or not path:
        raise DvcFileError(f"{name}: an output without a path")
    joined = posixpath.normpath(posixpath.join(directory, path))
    return "" if joined == "." else joined


def _out(entry: object, directory: str, pointer: str, stage: str, cache: bool) -> Out:
    if not isinstance(entry, Mapping):
        raise DvcFileError(f"{pointer}: an output is not a mapping of path, md5, size")
    md5, size = entry.get("md5"), entry.get("size")
    return Out(
        path=_join(directory, entry.get("path"), pointer),
        md5=str(md5).lower() if md5 else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        legacy=entry.get("hash") != "md5",
        pointer=pointer,
        stage=stage,
        cache=cache and entry.get("cache", True) is not False,
    )


def parse_dvcfile(text: str, pointer: str) -> list[Out]:
    """The outputs of a `.dvc` file at repository path `pointer`."""
    data = _load(text, pointer)
    outs = data.get("outs") if isinstance(data, Mapping) else None
    if not isinstance(outs, list):
        raise DvcFileError(f"{pointer}: no `outs:` list; not a .dvc file")
    directory = posixpath.dirname(pointer)
    return [_out(entry, directory, pointer, "", True) for entry in outs]


def stage_layout(text: str | None, yaml_path: str) -> tuple[dict[str, str], dict[str, bool]]:
    """From dvc.yaml: each stage's wdir (relative to the repository root) and each output's `cache` flag."""
    data = _load(text, yaml_path) if text else None
    stages = data.get("stages") if isinstance(data, Mapping) else None
    base = posixpath.dirname(yaml_path)
    wdirs: dict[str, str] = {}
    cache: dict[str, bool] = {}
    for name, stage in stages.items() if isinstance(stages, Mapping) else ():
        if not isinstance(stage, Mapping):
            continue
        wdir = _join(base, stage.get("wdir", "."), yaml_path)
        wdirs[str(name)] = wdir
        for key in ("outs", "metrics", "plots"):
            items = stage.get(key)
            for item in items if isinstance(items, list) else ():
                path, flags = (item, {}) if isinstance(item, str) else _first(item)
                if isinstance(path, str) and path and "${" not in path:  # a templated path is not resolved here
                    cache[_join(wdir, path, yaml_path)] = not (
                        isinstance(flags, Mapping) and flags.get("cache") is False
                    )
    return wdirs, cache


def _first(item: object) -> tuple[object, object]:
    """`{path: {cache: false}}` -> (path, flags)."""
    return next(iter(item.items()), ("", {})) if isinstance(item, Mapping) and item else ("", {})


def parse_lock(text: str, lock_path: str, stages_text: str | None = None) -> list[Out]:
    """Every output of every stage in the dvc.lock at repository path `lock_path` (dvc.yaml beside it, if given,
    for each stage's wdir and `cache: false`)."""
    data = _load(text, lock_path)
    stages = data.get("stages") if isinstance(data, Mapping) else None
    if not isinstance(stages, Mapping):
        raise DvcFileError(f"{lock_path}: no `stages:` mapping; not a dvc.lock")
    wdirs, cache = stage_layout(stages_text, posixpath.join(posixpath.dirname(lock_path), STAGES))
    found: list[Out] = []
    for name, stage in stages.items():
        outs = stage.get("outs") if isinstance(stage, Mapping) else None
        wdir = wdirs.get(str(name).split("@", 1)[0], posixpath.dirname(lock_path))
        for entry in outs if isinstance(outs, list) else ():
            out = _out(entry, wdir, lock_path, str(name), True)
            found.append(Out(**{**out.__dict__, "cache": out.cache and cache.get(out.path, True)}))
    return found


def ancestors(path: str) -> Iterator[str]:
    """`a/b/c` -> `a/b/c`, `a/b`, `a`: the path and every directory above it, below the root."""
    while path:
        yield path
        path = posixpath.dirname(path)


def lock_dirs(path: str) -> Iterator[str]:
    """Where a dvc.lock recording `path` may sit: the directories above it, the root last ("")."""
    yield from (d for d in ancestors(posixpath.dirname(path)))
    yield ""


def covering(outs: list[Out], path: str) -> Out | None:
    """The output that is `path`, or the directory output `path` is inside."""
    for out in outs:
        if out.path and (out.path == path or path.startswith(out.path + "/")):
            return out
    return None


def file_md5(path: Path, legacy: bool) -> set[str]:
    """The hashes DVC may have recorded for this file: its bytes' md5, and for a DVC 2.x text file the md5
    with CRLF read as LF."""
    digest = hashlib.md5()  # noqa: S324  # DVC's content address, not a security check
    text_digest = hashlib.md5() if legacy else None  # noqa: S324
    binary = False
    with path.open("rb") as handle:
        first = True
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            if first:
                binary, first = b"\x00" in chunk[:8192], False
            if text_digest is not None:
                text_digest.update(chunk.replace(b"\r\n", b"\n"))
    sums = {digest.hexdigest()}
    if text_digest is not None and not binary:
        sums.add(text_digest.hexdigest())
    return sums


def cache_object(clone_root: Path, md5: str) -> Path | None:
    """The local cache's copy of an object, if the clone has it (DVC 3 layout first)."""
    if len(md5.removesuffix(".dir")) != 32 or not set(md5.removesuffix(".dir")) <= _HEX:
        return None
    for folder in CACHE_DIRS:
        candidate = clone_root / folder / md5[:2] / md5[2:]
        if candidate.is_file():
            return candidate
    return None


def dir_listing(content: bytes, name: str) -> dict[str, str]:
    """A `.dir` object: relpath -> md5 of each file in the directory."""
    try:
        data = json.loads(content)
    except ValueError:
        raise DvcFileError(f"{name}: the directory listing in DVC's cache is not JSON") from None
    if not isinstance(data, list):
        raise DvcFileError(f"{name}: the directory listing in DVC's cache is not a list")
    return {
        str(e["relpath"]): str(e["md5"]).lower()
        for e in data
        if isinstance(e, Mapping) and "relpath" in e and "md5" in e
    }

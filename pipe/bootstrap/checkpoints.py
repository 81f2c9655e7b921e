"""Spot recovery's checkpoints in an object store: an atomic save of a folder and a restore of the newest one.
Stdlib only (Python >= 3.8): the VM's agent ships it (shipping.shipped) and COMMAND: restore imports it.

The layout under a run's base key (pipe/checkpoint/keys.py: prefix, repository, commit, CHECKPOINT_PATH):

    <base>/<id>/<relative path>   each file of one save, under a new id (time + random: never reused)
    <base>/latest.json            {"id", "saved_at", "reason", "files": [{"path", "size", "sha256"}]}

A save uploads every file under its new id and writes latest.json LAST: a save cut halfway leaves objects no
pointer names, and the restore reads only what the pointer names, checking each file's size and SHA-256. Once
the pointer is written the ids before the previous one are deleted (best effort; the bucket of ours also
expires every object after 7 days). A folder that changes while it is read (a checkpoint being written) is
not saved that time: the previous checkpoint stays the latest.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import time
from typing import Any, BinaryIO, Callable, Protocol  # noqa: UP035 - the VM may run Python 3.8

POINTER = "latest.json"
KEEP = 2  # the new checkpoint and the one before it: a pointer being replaced never names a deleted id
CHUNK = 1024 * 1024


class StoreError(Exception):
    """One line: what failed, the store's answer, never a credential."""


class Sink(Protocol):
    def write(self, block: bytes, /) -> int: ...


class Objects(Protocol):
    """The few calls a checkpoint needs, one implementation per store (store_s3.py, store_gcs.py, ...)."""

    def put(self, key: str, body: BinaryIO | bytes, size: int, sha256: str) -> None: ...

    def get(self, key: str, sink: Sink) -> bool:
        """Write the object into sink; False when there is no such object."""
        ...

    def keys(self, prefix: str) -> list[str]: ...

    def delete(self, key: str) -> None: ...


class Changed(Exception):
    """The folder changed while it was read: try again at the next save."""


def _files(folder: str) -> list[tuple[str, str]]:
    """(relative posix path, absolute path) of the regular files under folder; symlinks are not followed."""
    found = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(top, d)))
        for name in sorted(names):
            full = os.path.join(top, name)
            if stat.S_ISREG(os.lstat(full).st_mode):
                found.append((os.path.relpath(full, folder).replace(os.sep, "/"), full))
    return found


def _digest(path: str) -> tuple[int, str, float]:
    before = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    after = os.stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise Changed(path)
    return after.st_size, h.hexdigest(), after.st_mtime


def manifest(folder: str) -> list[dict[str, object]]:
    entries = []
    for rel, full in _files(folder):
        size, sha, _ = _digest(full)
        entries.append({"path": rel, "size": size, "sha256": sha})
    return entries


def read_pointer(objects: Objects, base: str) -> dict[str, object] | None:
    sink = _Buffer()
    if not objects.get(f"{base}/{POINTER}", sink):
        return None
    try:
        pointer = json.loads(sink.data.decode())
    except ValueError:
        raise StoreError(f"{base}/{POINTER} is not a checkpoint pointer") from None
    if not isinstance(pointer, dict) or not isinstance(pointer.get("files"), list) or not _safe_id(pointer.get("id")):
        raise StoreError(f"{base}/{POINTER} is not a checkpoint pointer")
    return pointer


def save(
    objects: Objects, base: str, folder: str, *, reason: str, now: Callable[[], float] = time.time
) -> dict[str, object] | None:
    """Upload folder as a new checkpoint and make it the latest. None: nothing to save (no folder, no file, or
    the same files as the latest checkpoint). Raises Changed (a file changed while read) or StoreError."""
    if not os.path.isdir(folder):
        return None
    files = manifest(folder)
    if not files:
        return None
    previous = read_pointer(objects, base)
    if previous is not None and previous.get("files") == files:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now()))
    checkpoint_id = f"{stamp}-{secrets.token_hex(4)}"
    for entry in files:
        full = os.path.join(folder, str(entry["path"]))
        with open(full, "rb") as body:
            objects.put(f"{base}/{checkpoint_id}/{entry['path']}", body, int(str(entry["size"])), str(entry["sha256"]))
    if manifest(folder) != files:
        raise Changed(folder)
    pointer: dict[str, object] = {"id": checkpoint_id, "saved_at": stamp, "reason": reason, "files": files}
    data = json.dumps(pointer, indent=1).encode()
    objects.put(f"{base}/{POINTER}", data, len(data), hashlib.sha256(data).hexdigest())
    keep = {checkpoint_id, str(previous["id"]) if previous else ""}
    _prune(objects, base, keep)
    return pointer


def _prune(objects: Objects, base: str, keep: set[str]) -> None:
    try:
        for key in objects.keys(base + "/"):
            checkpoint_id = key[len(base) + 1 :].split("/", 1)[0]
            if "/" in key[len(base) + 1 :] and checkpoint_id not in keep:
                objects.delete(key)
    except StoreError:
        pass  # older checkpoints stay until the next save, or the bucket's expiry


def restore(objects: Objects, base: str, folder: str) -> dict[str, object] | None:
    """The latest checkpoint's files into folder (made if missing; other files there stay). None: no checkpoint.
    Every file is fetched into a staging folder beside it and checked before any is moved into place."""
    pointer = read_pointer(objects, base)
    if pointer is None:
        return None
    staging = folder.rstrip("/") + f".restoring-{secrets.token_hex(4)}"
    os.makedirs(staging)
    try:
        files = pointer["files"]
        for entry in files if isinstance(files, list) else []:
            rel = _safe_path(entry)
            target = os.path.join(staging, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            h = hashlib.sha256()
            with open(target, "wb") as sink:
                found = objects.get(f"{base}/{pointer['id']}/{rel}", _Hashing(sink, h))
            if not found or os.path.getsize(target) != entry["size"] or h.hexdigest() != entry["sha256"]:
                raise StoreError(f"checkpoint {pointer['id']}: {rel} is missing or damaged in the store")
        os.makedirs(folder, exist_ok=True)
        root = os.path.realpath(folder)
        for rel, full in _files(staging):
            target = os.path.join(root, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            # A symlinked folder inside CHECKPOINT_PATH (from the commit) must not carry a file out of it.
            parent = os.path.realpath(os.path.dirname(target))
            if (parent != root and not parent.startswith(root + os.sep)) or os.path.islink(target):
                raise StoreError(f"{rel} would be written through a symlink in the folder; nothing more is written")
            os.replace(full, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return pointer


def _safe_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def _safe_path(entry: object) -> str:
    """A pointer's file path: relative, no '..', no empty part (the pointer comes from the store)."""
    path = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise StoreError(f"the checkpoint pointer names a bad path {path!r}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise StoreError(f"the checkpoint pointer names a bad path {path!r}")
    return path


class _Buffer:
    def __init__(self) -> None:
        self.data = b""

    def write(self, block: bytes) -> int:
        self.data += block
        return len(block)


class _Hashing:
    def __init__(self, sink: Sink, h: Any) -> None:
        self.sink, self.h = sink, h

    def write(self, block: bytes) -> int:
        self.h.update(block)
        return self.sink.write(block)

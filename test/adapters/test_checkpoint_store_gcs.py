"""Checkpoints in GCS through the stdlib JSON API client (pipe/bootstrap/store_gcs.py), against the
gcp-storage-emulator server from PyPI (requirements-test.txt): the same atomic save and checked restore as S3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.gcs_emulator import GcsEmulator

from pipe.bootstrap import checkpoints
from pipe.bootstrap.checkpoints import StoreError
from pipe.bootstrap.store_gcs import GcsObjects

pytest.importorskip("gcp_storage_emulator")
BASE = "ml/repo/abc123/checkpoints"


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcsEmulator]:
    server = GcsEmulator().start()
    yield server
    server.stop()


@pytest.fixture()
def store(emulator: GcsEmulator) -> GcsObjects:
    return GcsObjects(emulator.bucket(f"ckpt-{time.monotonic_ns()}"), lambda: "", endpoint=emulator.url)


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_save_then_restore_and_prune(store: GcsObjects, tmp_path: Path) -> None:
    src = tmp_path / "src"
    ids = []
    for epoch in range(3):
        _folder(src, {f"e{epoch}.pt": bytes([epoch]) * 100, "sub/state.json": b"{}"})
        saved = checkpoints.save(store, BASE, str(src), reason="interval")
        assert saved is not None
        ids.append(saved["id"])
    assert {k.split("/")[4] for k in store.keys(BASE + "/") if not k.endswith("latest.json")} == set(ids[-2:])
    restored = checkpoints.restore(store, BASE, str(tmp_path / "dest"))
    assert restored is not None and restored["id"] == ids[-1]
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["e0.pt", "e1.pt", "e2.pt", "sub"]


def test_nothing_on_a_first_run_and_a_missing_bucket_is_an_error(store: GcsObjects, emulator: GcsEmulator) -> None:
    assert checkpoints.read_pointer(store, BASE) is None
    with pytest.raises(StoreError, match="gs://no-such-bucket/"):
        checkpoints.read_pointer(GcsObjects("no-such-bucket", lambda: "", endpoint=emulator.url), BASE)


def test_a_save_cut_halfway_is_never_the_latest(store: GcsObjects, tmp_path: Path) -> None:
    first = checkpoints.save(store, BASE, str(_folder(tmp_path / "v1", {"e1.pt": b"1"})), reason="interval")
    assert first is not None
    real_put, calls = store.put, []

    def cut(key: str, body: object, size: int, sha256: str) -> None:
        calls.append(key)
        if len(calls) > 1:
            raise StoreError("POST: connection reset")
        real_put(key, body, size, sha256)  # type: ignore[arg-type]

    store.put = cut  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        checkpoints.save(store, BASE, str(_folder(tmp_path / "v2", {"e1.pt": b"1", "e2.pt": b"2"})), reason="x")
    store.put = real_put  # type: ignore[method-assign]
    pointer = checkpoints.read_pointer(store, BASE)
    assert pointer is not None and pointer["id"] == first["id"]

"""COMMAND: restore from a gs:// store, the real pipe process against gcp-storage-emulator (no GCP credentials:
STORAGE_EMULATOR_HOST is a loopback stand-in)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.gcs_emulator import GcsEmulator
from fixtures_pipe import BASE_COMMIT, BASE_ENV, run_pipe

from pipe.bootstrap import checkpoints
from pipe.bootstrap.store_gcs import GcsObjects
from pipe.checkpoint.keys import run_base

pytest.importorskip("gcp_storage_emulator")


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcsEmulator]:
    server = GcsEmulator().start()
    yield server
    server.stop()


def test_the_newest_checkpoint_comes_back_from_gcs(emulator: GcsEmulator, tmp_path: Path) -> None:
    bucket = emulator.bucket(f"ckpt-{time.monotonic_ns()}")
    src = tmp_path / "vm" / "checkpoints"
    src.mkdir(parents=True)
    (src / "epoch-4.pt").write_bytes(b"w4")
    base = run_base("ml", BASE_ENV["BITBUCKET_REPO_UUID"], BASE_COMMIT, "checkpoints")
    assert checkpoints.save(GcsObjects(bucket, lambda: "", endpoint=emulator.url), base, str(src), reason="interval")
    clone = tmp_path / "clone"
    clone.mkdir()
    env = {"COMMAND": "restore", "CHECKPOINT_PATH": "checkpoints", "CHECKPOINT_STORE": f"gs://{bucket}/ml",
           "STORAGE_EMULATOR_HOST": emulator.url, "BITBUCKET_ACCESS_TOKEN": None}  # fmt: skip
    proc = run_pipe(env, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Restored checkpoint" in proc.stdout and (clone / "checkpoints" / "epoch-4.pt").read_bytes() == b"w4"
    first = run_pipe({**env, "CHECKPOINT_STORE": f"gs://{bucket}/other"}, cwd=clone)
    assert first.returncode == 0 and "No checkpoint of commit" in first.stdout


def test_a_remote_emulator_host_is_refused(tmp_path: Path) -> None:
    proc = run_pipe({"COMMAND": "restore", "CHECKPOINT_PATH": "c", "CHECKPOINT_STORE": "gs://bucket1/x",
                     "STORAGE_EMULATOR_HOST": "http://example.com:9000", "BITBUCKET_ACCESS_TOKEN": None},
                    cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1 and "STORAGE_EMULATOR_HOST: 'http://example.com:9000' is not valid" in proc.stdout

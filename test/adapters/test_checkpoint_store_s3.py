"""Checkpoints in S3 (moto) through the stdlib client the VM's agent ships (pipe/bootstrap/store_s3.py).

A save is atomic: the files go under a new id and latest.json is written last, so a save cut halfway is never
the latest; a restore checks every file's size and SHA-256. The request signature is compared with botocore's own
SigV4 signer (moto does not check signatures unless its IAM mode is on for the whole server).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pipe.bootstrap import checkpoints
from pipe.bootstrap.checkpoints import Changed, StoreError
from pipe.bootstrap.store_s3 import AwsKeys, S3Objects

KEYS = AwsKeys("AKIAFAKEFORTESTS0001", "fake-aws-secret-key-for-tests-0001")
BASE = "ml/repo/abc123/checkpoints"


@pytest.fixture()
def s3(moto: Any) -> Any:
    client = boto3.client(
        "s3", region_name="us-east-1", endpoint_url=moto.url,
        aws_access_key_id=KEYS.access_key, aws_secret_access_key=KEYS.secret_key,
    )  # fmt: skip
    client.create_bucket(Bucket="ckpt-bucket")
    return client


@pytest.fixture()
def store(moto: Any, s3: Any) -> S3Objects:
    return S3Objects("ckpt-bucket", lambda: KEYS, endpoint=moto.url)


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_save_then_restore_round_trip(store: S3Objects, s3: Any, tmp_path: Path) -> None:
    src = _folder(tmp_path / "src", {"epoch-1.pt": b"one" * 1000, "sub/state.json": b"{}"})
    saved = checkpoints.save(store, BASE, str(src), reason="interval")
    assert saved is not None and saved["reason"] == "interval"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="ckpt-bucket")["Contents"]}
    assert keys == {f"{BASE}/latest.json", f"{BASE}/{saved['id']}/epoch-1.pt", f"{BASE}/{saved['id']}/sub/state.json"}
    dest = tmp_path / "clone" / "checkpoints"
    (dest).mkdir(parents=True)
    (dest / "keep.txt").write_text("mine")
    restored = checkpoints.restore(store, BASE, str(dest))
    assert restored is not None and restored["id"] == saved["id"]
    assert (dest / "epoch-1.pt").read_bytes() == b"one" * 1000 and (dest / "sub/state.json").read_bytes() == b"{}"
    assert (dest / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["checkpoints"]  # no staging folder left


def test_nothing_to_restore_on_a_first_run(store: S3Objects, tmp_path: Path) -> None:
    assert checkpoints.restore(store, BASE, str(tmp_path / "ckpt")) is None
    assert not (tmp_path / "ckpt").exists()


def test_no_folder_or_unchanged_files_upload_nothing(store: S3Objects, s3: Any, tmp_path: Path) -> None:
    assert checkpoints.save(store, BASE, str(tmp_path / "missing"), reason="interval") is None
    src = _folder(tmp_path / "src", {"a.pt": b"a"})
    assert checkpoints.save(store, BASE, str(src), reason="interval") is not None
    assert checkpoints.save(store, BASE, str(src), reason="interval") is None
    assert s3.list_objects_v2(Bucket="ckpt-bucket")["KeyCount"] == 2


class CutAfter:
    """The store's connection drops after n uploads (a notice window that ran out mid-save)."""

    def __init__(self, inner: S3Objects, n: int) -> None:
        self.inner, self.left = inner, n

    def put(self, key: str, body: Any, size: int, sha256: str) -> None:
        if self.left == 0:
            raise StoreError("PUT: connection reset")
        self.left -= 1
        self.inner.put(key, body, size, sha256)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_save_cut_halfway_is_never_the_latest(store: S3Objects, tmp_path: Path) -> None:
    first = checkpoints.save(store, BASE, str(_folder(tmp_path / "v1", {"e1.pt": b"1"})), reason="interval")
    assert first is not None
    v2 = _folder(tmp_path / "v2", {"e1.pt": b"1", "e2.pt": b"2", "e3.pt": b"3"})
    with pytest.raises(StoreError, match="connection reset"):
        checkpoints.save(CutAfter(store, 2), BASE, str(v2), reason="interruption")  # type: ignore[arg-type]
    restored = checkpoints.restore(store, BASE, str(tmp_path / "dest"))
    assert restored is not None and restored["id"] == first["id"]
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["e1.pt"]


def test_old_checkpoints_are_pruned_keeping_the_previous(store: S3Objects, s3: Any, tmp_path: Path) -> None:
    src = tmp_path / "src"
    ids = []
    for epoch in range(4):
        _folder(src, {f"e{epoch}.pt": bytes([epoch])})
        saved = checkpoints.save(store, BASE, str(src), reason="interval")
        assert saved is not None
        ids.append(saved["id"])
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="ckpt-bucket")["Contents"]}
    assert {k.split("/")[4] for k in keys if not k.endswith("latest.json")} == set(ids[-2:])


def test_a_damaged_object_is_refused_and_nothing_is_moved(store: S3Objects, s3: Any, tmp_path: Path) -> None:
    saved = checkpoints.save(store, BASE, str(_folder(tmp_path / "src", {"a.pt": b"good"})), reason="interval")
    assert saved is not None
    s3.put_object(Bucket="ckpt-bucket", Key=f"{BASE}/{saved['id']}/a.pt", Body=b"evil")
    with pytest.raises(StoreError, match=r"a\.pt is missing or damaged"):
        checkpoints.restore(store, BASE, str(tmp_path / "dest"))
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_a_pointer_naming_a_path_outside_is_refused(store: S3Objects, s3: Any, tmp_path: Path, path: str) -> None:
    pointer = {"id": "x1", "files": [{"path": path, "size": 1, "sha256": hashlib.sha256(b"x").hexdigest()}]}
    s3.put_object(Bucket="ckpt-bucket", Key=f"{BASE}/latest.json", Body=json.dumps(pointer).encode())
    s3.put_object(Bucket="ckpt-bucket", Key=f"{BASE}/x1/{path.lstrip('/')}", Body=b"x")
    with pytest.raises(StoreError, match="bad path"):
        checkpoints.restore(store, BASE, str(tmp_path / "dest" / "ckpt"))
    assert not (tmp_path / "escape").exists()


def test_a_file_written_while_it_is_uploaded_is_not_saved(store: S3Objects, tmp_path: Path) -> None:
    """The training writes its next checkpoint during the copy: that save is dropped, the previous stays latest."""
    src = _folder(tmp_path / "src", {"a.pt": b"a", "b.pt": b"b"})

    class Writing(CutAfter):
        def put(self, key: str, body: Any, size: int, sha256: str) -> None:
            (src / "b.pt").write_bytes(b"b, a little later")
            self.inner.put(key, body, size, sha256)

    with pytest.raises(Changed):
        checkpoints.save(Writing(store, 9), BASE, str(src), reason="interval")  # type: ignore[arg-type]
    assert checkpoints.read_pointer(store, BASE) is None


def test_the_signature_is_botocores(monkeypatch: Any) -> None:
    """The same request signed by botocore's S3 SigV4 signer carries the same Authorization header."""
    sent: list[tuple[str, str, dict[str, str]]] = []

    def fake_send(method: str, url: str, headers: dict[str, str], body: Any = None, timeout: float = 60) -> Any:
        sent.append((method, url, dict(headers)))
        return 200, {"x-amz-bucket-region": "eu-west-1"}, io.BytesIO(b"")

    monkeypatch.setattr("pipe.bootstrap.store_s3.send", fake_send)
    when = datetime.datetime(2026, 12, 8, 1, 2, 3, tzinfo=datetime.UTC)
    keys = AwsKeys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
    objects = S3Objects("my-bucket", lambda: keys, region="us-east-1", now=lambda: when)
    objects.put("ml/a b+c/latest.json", b"{}", 2, hashlib.sha256(b"{}").hexdigest())
    head, put = sent
    assert head[0] == "HEAD" and put[0] == "PUT"
    assert put[1] == "https://my-bucket.s3.eu-west-1.amazonaws.com/ml/a%20b%2Bc/latest.json"
    request = AWSRequest(method="PUT", url=put[1], data=b"{}")
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None))
    S3SigV4Auth(Credentials(*keys), "s3", "eu-west-1").add_auth(request)
    assert put[2]["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]
    assert put[2]["Authorization"] == request.headers["Authorization"]


def test_a_symlink_in_the_folder_never_carries_a_file_out(store: S3Objects, tmp_path: Path) -> None:
    saved = checkpoints.save(store, BASE, str(_folder(tmp_path / "src", {"sub/a.pt": b"a", "b.pt": b"b"})),
                             reason="interval")  # fmt: skip
    assert saved is not None
    outside, dest = tmp_path / "outside", tmp_path / "clone" / "ckpt"
    outside.mkdir()
    dest.mkdir(parents=True)
    (dest / "sub").symlink_to(outside)
    (dest / "b.pt").symlink_to(outside / "b.pt")
    with pytest.raises(StoreError, match="through a symlink"):
        checkpoints.restore(store, BASE, str(dest))
    assert list(outside.iterdir()) == []

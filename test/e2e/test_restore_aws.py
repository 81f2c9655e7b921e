"""COMMAND: restore end to end: the real pipe process, moto's S3, a clone directory. The checkpoint is saved
as the VM's agent saves it (pipe/bootstrap/checkpoints.py over the stdlib S3 client), into the bucket of ours
the runner step creates (pipe/checkpoint/aws.py) or into CHECKPOINT_STORE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from fixtures_pipe import BASE_COMMIT, BASE_ENV, output_lines, run_pipe

from pipe.bootstrap import checkpoints
from pipe.bootstrap.store_s3 import AwsKeys, S3Objects
from pipe.checkpoint import aws
from pipe.checkpoint.keys import run_base

KEYS = AwsKeys("AKIAFAKEFORTESTS0001", "fake-aws-secret-key-for-tests-0001")
REPO = BASE_ENV["BITBUCKET_REPO_UUID"]


@pytest.fixture()
def s3_env(moto: Any) -> dict[str, str | None]:
    return {
        "COMMAND": "restore",
        "CHECKPOINT_PATH": "checkpoints/",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": KEYS.access_key,
        "AWS_SECRET_ACCESS_KEY": KEYS.secret_key,
        "AWS_DEFAULT_REGION": "us-west-1",
        "BITBUCKET_ACCESS_TOKEN": None,  # the restore step takes no Bitbucket token
    }


@pytest.fixture()
def s3(moto: Any) -> Any:
    return boto3.client("s3", region_name="us-west-1", endpoint_url=moto.url,
                        aws_access_key_id=KEYS.access_key, aws_secret_access_key=KEYS.secret_key)  # fmt: skip


def _our_bucket(s3: Any, moto: Any) -> str:
    account = boto3.client("sts", region_name="us-west-1", endpoint_url=moto.url, aws_access_key_id=KEYS.access_key,
                           aws_secret_access_key=KEYS.secret_key).get_caller_identity()["Account"]  # fmt: skip
    name = aws.bucket_name(account, REPO)
    assert aws.ensure_bucket(s3, name, "us-west-1", REPO) == "created"
    return name


def _save_epochs(moto: Any, bucket: str, prefix: str, tmp_path: Path, epochs: int) -> dict[str, Any]:
    src = tmp_path / "vm-build" / "checkpoints"
    src.mkdir(parents=True)
    for epoch in range(1, epochs + 1):
        (src / f"epoch-{epoch}.pt").write_bytes(b"weights %d" % epoch)
    base = run_base(prefix, REPO, BASE_COMMIT, "checkpoints")
    saved = checkpoints.save(S3Objects(bucket, lambda: KEYS, endpoint=moto.url), base, str(src), reason="interruption")
    assert saved is not None
    return saved


def test_a_first_run_restores_nothing(s3_env: dict[str, str | None], s3: Any, moto: Any, tmp_path: Path) -> None:
    _our_bucket(s3, moto)
    proc = run_pipe(s3_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No checkpoint of commit 0123456789ab in s3://cml-checkpoints-" in proc.stdout
    assert not (tmp_path / "checkpoints").exists()


def test_the_newest_checkpoint_lands_in_checkpoint_path(
    s3_env: dict[str, str | None], s3: Any, moto: Any, tmp_path: Path
) -> None:
    bucket = _our_bucket(s3, moto)
    saved = _save_epochs(moto, bucket, "", tmp_path, 3)
    clone = tmp_path / "clone"
    clone.mkdir()
    proc = run_pipe(s3_env, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Restored checkpoint {saved['id']} (interruption) into checkpoints/" in proc.stdout
    assert sorted(p.name for p in (clone / "checkpoints").iterdir()) == ["epoch-1.pt", "epoch-2.pt", "epoch-3.pt"]


def test_a_store_of_the_users(s3_env: dict[str, str | None], s3: Any, moto: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="team-ckpts", CreateBucketConfiguration={"LocationConstraint": "us-west-1"})
    _save_epochs(moto, "team-ckpts", "ml/seeds", tmp_path, 2)
    clone = tmp_path / "clone"
    clone.mkdir()
    proc = run_pipe({**s3_env, "CHECKPOINT_STORE": "s3://team-ckpts/ml/seeds"}, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (clone / "checkpoints" / "epoch-2.pt").read_bytes() == b"weights 2"


def test_no_store_is_one_line(s3_env: dict[str, str | None], tmp_path: Path) -> None:
    proc = run_pipe({**s3_env, "CHECKPOINT_STORE": "s3://missing-bucket/x"}, cwd=tmp_path)
    assert proc.returncode == 1
    last = output_lines(proc)[-1]
    assert "restore from s3://missing-bucket/x: s3://missing-bucket/" in last and "HTTP 404 NoSuchBucket" in last
    assert "Traceback" not in proc.stdout + proc.stderr and KEYS.secret_key not in proc.stdout + proc.stderr


@pytest.mark.parametrize("path", ["../outside", ".git/ckpt", "file.txt"])
def test_a_path_outside_the_clone_is_refused(s3_env: dict[str, str | None], tmp_path: Path, path: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / ".git").mkdir()
    proc = run_pipe({**s3_env, "CHECKPOINT_PATH": path}, cwd=tmp_path)
    assert proc.returncode == 1
    assert output_lines(proc)[-1].split("CHECKPOINT_PATH: ", 1)[1].startswith(repr(path))

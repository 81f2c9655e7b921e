"""`python demo/run.py --dvc`: the DVC scenario of examples/dvc, with the real dvc and a local S3 (moto).

Before the training: the dvc CLI (its own virtualenv, test/support/dvc_cli.py), a local S3 with a bucket, and
the clone made a git repository whose remote `storage` points at that bucket (.dvc/config.local). The training
step runs the example's `dvc repro` and `dvc push`. After PR mode: a checkout of the PR's branch, made from the
local Bitbucket's files, runs `dvc pull` and must get the trained model back byte for byte.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from dvc_cli import S3_KEYS, ensure_dvc, git_repo, local_remote
from fakes.moto import MotoServer

from demo.output import say

BUCKET = "dvc-demo"
MADE = ("model.pkl", "confusion.png", "metrics.json", "report.md", "dvc.lock")

# run_child(what, argv, env, cwd=...) of demo/steps.py: a child with its output shown and logged.
RunChild = Callable[..., None]


@dataclass
class DvcStage:
    s3: MotoServer | None = None
    dvc: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, clone: Path, run_child: RunChild) -> str:
        """dvc installed, the local S3 started with its bucket, the clone a git repository with that remote."""
        self.dvc = ensure_dvc(log=lambda line: say(f"      {line}"))
        self.s3 = MotoServer().start()
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
        boto3.client("s3", endpoint_url=self.s3.url, **keys).create_bucket(Bucket=BUCKET)
        self.env = {**S3_KEYS, "PATH": f"{self.dvc.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        self.env["DVC_NO_ANALYTICS"] = "true"
        # The demo's children see AWS_CONFIG_FILE=/dev/null (fakes/isolation.py); aiobotocore wants a regular file.
        empty = clone.parent / "home" / "aws-empty"
        empty.parent.mkdir(parents=True, exist_ok=True)
        empty.write_text("")
        self.env.update({"AWS_CONFIG_FILE": str(empty), "AWS_SHARED_CREDENTIALS_FILE": str(empty)})
        self.remote(clone, run_child)
        return f"{self.dvc} ({self.dvc.parent.parent.name}); s3://{BUCKET} on {self.s3.url}"

    def remote(self, where: Path, run_child: RunChild) -> None:
        git_repo(where)
        for command in local_remote(BUCKET, self.s3.url if self.s3 else ""):
            run_child("dvc remote", [str(self.dvc), *command], self.env, cwd=where)

    def run(self, commands: list[list[str]], clone: Path, run_child: RunChild) -> None:
        for command in commands:
            run_child(" ".join(command[:2]), [str(self.dvc), *command[1:]], self.env, cwd=clone)

    def pull_back(self, tree: dict[str, bytes], clone: Path, checkout: Path, run_child: RunChild) -> str:
        """`dvc pull` in a checkout of the PR's branch; the model must be the trained one, byte for byte."""
        shutil.rmtree(checkout, ignore_errors=True)
        for rel, data in tree.items():
            (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
            (checkout / rel).write_bytes(data)
        self.remote(checkout, run_child)
        run_child("dvc pull", [str(self.dvc), "pull"], self.env, cwd=checkout)
        trained, pulled = (clone / "model.pkl").read_bytes(), (checkout / "model.pkl").read_bytes()
        if pulled != trained:
            raise ValueError(f"dvc pull on the PR's branch gave {len(pulled)} bytes, not the trained {len(trained)}")
        return f"model.pkl: {len(pulled)} bytes from s3://{BUCKET}, identical to the trained one"

    def stop(self) -> None:
        if self.s3 is not None:
            self.s3.stop()

"""The bucket of ours per repository (pipe/checkpoint/aws.py) on moto: created once with our tags, a 7-day expiry
and public access blocked, reused after, and a bucket of that name that is not ours is never used."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from pipe.checkpoint import aws
from pipe.providers.base import TAG_REPOSITORY
from pipe.providers.tags import repository_tag

REPO = "{11111111-2222-3333-4444-555555555555}"


@pytest.fixture()
def s3(moto: Any) -> Any:
    return boto3.client("s3", region_name="eu-west-1", endpoint_url=moto.url, aws_access_key_id="AKIAFAKE",
                        aws_secret_access_key="fake")  # fmt: skip


def test_created_tagged_expiring_and_private_then_reused(s3: Any) -> None:
    name = aws.bucket_name("123456789012", REPO)
    assert len(name) <= 63 and name.startswith("cml-checkpoints-123456789012-")
    assert aws.ensure_bucket(s3, name, "eu-west-1", REPO) == "created"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags[TAG_REPOSITORY] == repository_tag(REPO)
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert rule["Expiration"] == {"Days": 7} and rule["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    assert aws.ensure_bucket(s3, name, "eu-west-1", REPO) == "reused"


def test_two_repositories_never_share_a_bucket() -> None:
    other = "{11111111-2222-3333-4444-555555555556}"
    assert aws.bucket_name("123456789012", REPO) != aws.bucket_name("123456789012", other)


def test_a_bucket_of_that_name_that_is_not_ours_is_refused(s3: Any) -> None:
    name = aws.bucket_name("123456789012", REPO)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    with pytest.raises(aws.CheckpointStoreError, match="exists but is not this repository's bucket of ours"):
        aws.ensure_bucket(s3, name, "eu-west-1", REPO)


def test_the_instance_policy_names_only_the_runs_keys() -> None:
    policy = json.loads(aws.instance_policy("b", "p/repo/commit/ckpt"))
    objects, listing = policy["Statement"]
    assert objects["Resource"] == "arn:aws:s3:::b/p/repo/commit/ckpt/*"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "p/repo/commit/ckpt/*"}}
    assert "s3:*" not in json.dumps(policy)

"""The bucket of ours per repository (when CHECKPOINT_STORE is unset), and the instance profile's policy.

The bucket: `cml-checkpoints-<account>-<12 hex of the repository UUID's SHA-256>` (S3 bucket names are global and
at most 63 characters: docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), in the runner's
region, tagged ours with the repository, public access blocked, and a lifecycle rule that expires every object
7 days after it was written (.../userguide/lifecycle-expire-general-considerations.html). It is reused by every
run of the repository and never removed by a rollback: empty, it costs nothing. A bucket of that name without
our repository tag is refused, never written to.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from pipe.bootstrap.store_s3 import AwsKeys, S3Objects
from pipe.errors import PipeError
from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, TAG_REPOSITORY
from pipe.providers.tags import repository_tag

EXPIRY_DAYS = 7
RULE_ID = "cml-checkpoints-expire"


class CheckpointStoreError(PipeError):
    pass


def bucket_name(account_id: str, repository_uuid: str) -> str:
    digest = hashlib.sha256(repository_uuid.strip().strip("{}").lower().encode()).hexdigest()[:12]
    return f"cml-checkpoints-{account_id}-{digest}"


def account_id(session: Any) -> str:
    try:
        return str(session.client("sts").get_caller_identity()["Account"])
    except ClientError as error:
        raise CheckpointStoreError(f"AWS STS GetCallerIdentity: {error.response['Error'].get('Code')}") from None


def ensure_bucket(s3: Any, name: str, region: str, repository_uuid: str) -> str:
    """'reused' or 'created'. Raises CheckpointStoreError for a bucket of that name that is not ours."""
    ours = repository_tag(repository_uuid)
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as error:
        if error.response["Error"].get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise CheckpointStoreError(_why(name, "HeadBucket", error)) from None
    else:
        try:
            tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        except ClientError:
            tags = {}
        if tags.get(TAG_REPOSITORY) != ours:
            raise CheckpointStoreError(f"bucket {name} exists but is not this repository's bucket of ours; "
                                       "set CHECKPOINT_STORE to a bucket you own")  # fmt: skip
        return "reused"
    try:
        where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **where)
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        })  # fmt: skip
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
            {"Key": TAG_MANAGED_BY, "Value": TAG_MANAGED_BY_VALUE}, {"Key": TAG_REPOSITORY, "Value": ours},
        ]})  # fmt: skip
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
            {"ID": RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": EXPIRY_DAYS},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        ]})  # fmt: skip
    except ClientError as error:
        raise CheckpointStoreError(_why(name, "creating it", error)) from None
    return "created"


def _why(name: str, what: str, error: ClientError) -> str:
    code = error.response["Error"].get("Code", "")
    need = " (the pipe's AWS identity needs s3:CreateBucket, s3:PutBucketTagging, s3:PutLifecycleConfiguration, " \
        "s3:PutBucketPublicAccessBlock, s3:GetBucketTagging)" if code in ("403", "AccessDenied") else ""  # fmt: skip
    return f"checkpoint bucket {name}: {what}: {code}{need}"


def instance_policy(bucket: str, base: str, repository_uuid: str = "") -> str:
    """What the instance profile (CLOUD_PERMISSION_SET) needs, and no more: this run's keys only, and (for the
    relaunch, pipe/bootstrap/relaunch.py) RunInstances only for instances and volumes tagged with this
    repository, plus passing its own role. RunInstances also names the image, subnet, security group and network
    interface, which carry no request tags (docs.aws.amazon.com/service-authorization/latest/reference/
    list_amazonec2.html): those get no condition."""
    ours = {"StringEquals": {f"aws:RequestTag/{TAG_REPOSITORY}": repository_tag(repository_uuid)}} if \
        repository_uuid else {}  # fmt: skip
    statement: list[dict[str, object]] = [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
         "Resource": f"arn:aws:s3:::{bucket}/{base}/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": f"{base}/*"}}},
    ]  # fmt: skip
    if repository_uuid:
        statement += [
            {"Effect": "Allow", "Action": ["ec2:RunInstances", "ec2:CreateTags"],
             "Resource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"], "Condition": ours},
            {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": [
                "arn:aws:ec2:*::image/*", "arn:aws:ec2:*:*:subnet/*", "arn:aws:ec2:*:*:security-group/*",
                "arn:aws:ec2:*:*:network-interface/*"]},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "<the instance profile's own role ARN>"},
        ]  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": statement}, separators=(",", ":"))


def session_objects(session: Any, bucket: str) -> S3Objects:
    """The stdlib S3 client with the pipe's own AWS credentials (boto3's chain, or the OIDC role's keys), on the
    endpoint boto3 would use (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for a stand-in)."""
    endpoint = session.client("s3").meta.endpoint_url
    stand_in = "" if endpoint.endswith(".amazonaws.com") else endpoint

    def keys() -> AwsKeys:
        frozen = session.get_credentials()
        if frozen is None:
            raise CheckpointStoreError("no AWS credentials for the checkpoint store: set AWS_ACCESS_KEY_ID and "
                                       "AWS_SECRET_ACCESS_KEY, or AWS_OIDC_ROLE_ARN with oidc: true")  # fmt: skip
        frozen = frozen.get_frozen_credentials()
        return AwsKeys(frozen.access_key, frozen.secret_key, frozen.token or "")

    return S3Objects(bucket, keys, region=session.region_name or "us-east-1", endpoint=stand_in)

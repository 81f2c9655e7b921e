"""Spot recovery at launch (runner mode), before anything is created: the store (the bucket of ours created or
reused, or CHECKPOINT_STORE's bucket and its region), this run's base key, the policy the instance profile needs
(printed), and the agent's checkpoint settings for the boot script (no secret in them)."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from pipe.checkpoint import aws
from pipe.checkpoint.keys import run_base
from pipe.errors import PipeError


def prepare_aws(
    session: Any,
    *,
    bucket: str,
    prefix: str,
    region: str,
    checkpoint_path: str,
    interval_s: int,
    spot_attempts: int,
    permission_set: str,
    repository_uuid: str,
    commit: str,
    log: logging.Logger,
) -> dict[str, object]:
    """bucket '' = the bucket of ours. Raises PipeError (one line) before the launch."""
    base = run_base(prefix, repository_uuid, commit, checkpoint_path)
    s3 = session.client("s3")
    if not bucket:
        bucket = aws.bucket_name(aws.account_id(session), repository_uuid)
        log.info("Checkpoint bucket %s: %s.", bucket, aws.ensure_bucket(s3, bucket, region, repository_uuid))
        bucket_region = region
    else:
        try:
            bucket_region = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        except ClientError as error:
            code = error.response["Error"].get("Code", "")
            raise PipeError(f"CHECKPOINT_STORE: bucket {bucket}: {code} (the pipe's AWS identity needs "
                            "s3:GetBucketLocation on it)") from None  # fmt: skip
    policy = aws.instance_policy(bucket, base, repository_uuid)
    if not permission_set:
        raise PipeError(f"SPOT_RECOVERY on AWS needs CLOUD_PERMISSION_SET: an instance profile whose role allows "
                        f"{policy}")  # fmt: skip
    log.info("Spot recovery: s3://%s/%s/ every %d s and on a notice; instance profile %s needs: %s",
             bucket, base, interval_s, permission_set, policy)  # fmt: skip
    store = {"cloud": "aws", "bucket": bucket, "region": bucket_region, "endpoint": _stand_in(session, "s3")}
    relaunch = {"spot_attempts": spot_attempts, "endpoint": _stand_in(session, "ec2")}
    return {"store": store, "base": base, "path": checkpoint_path, "interval_s": interval_s, "relaunch": relaunch}


def _stand_in(session: Any, service: str) -> str:
    """A loopback endpoint (tests, the demo) goes to the VM as is; a real one is the cloud's default there."""
    endpoint = str(session.client(service).meta.endpoint_url)
    return endpoint if endpoint.startswith(("http://127.", "http://localhost")) else ""

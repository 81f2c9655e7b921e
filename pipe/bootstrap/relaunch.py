"""Spot recovery's relaunch on AWS: on an interruption notice the dying instance starts its own replacement with
the same boot script (so the same runner registration: the retried step, waiting in Bitbucket's queue for a
runner with its labels, runs there), spot for the first SPOT_ATTEMPTS interruptions of this runner, then
on-demand, and never more than SPOT_ATTEMPTS + 1 relaunches. Stdlib only; shipped with SPOT_RECOVERY.

Bitbucket keeps a step "in the queue while it is waiting for a compatible runner to become available", for
2.5 hours at most (support.atlassian.com/bitbucket-cloud/docs/runners/, "Queue for steps", "Usage limits"):
a replacement ONLINE within minutes takes the retried step. No Bitbucket token is on the VM, and no key of the
pipe's: the call is EC2 RunInstances signed with the instance profile's own keys, whose policy allows it only
for instances tagged with this runner (the pipe prints it).

The interruptions are counted in the store, per runner, at <base>/attempts/<runner uuid>.json, written before
the relaunch, so a replacement knows its attempt and a count is never lost with the instance.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import urllib.parse
from typing import Any, Callable  # noqa: UP035 - the VM may run Python 3.8

from pipe.bootstrap.checkpoints import Objects, StoreError, _Buffer
from pipe.bootstrap.store_s3 import UTC, send, signed_headers

EC2_VERSION = "2016-11-15"


def count_interruption(objects: Objects, base: str, runner_uuid: str) -> int:
    """This runner's interruptions so far, this one included."""
    key = f"{base}/attempts/{runner_uuid.strip('{}')}.json"
    sink = _Buffer()
    try:
        seen = int(json.loads(sink.data.decode()).get("interruptions", 0)) if objects.get(key, sink) else 0
    except (ValueError, AttributeError):
        seen = 0
    data = json.dumps({"interruptions": seen + 1}).encode()
    objects.put(key, data, len(data), hashlib.sha256(data).hexdigest())
    return seen + 1


def interruptions(objects: Objects, base: str) -> int:
    """The most interruptions any runner of this run has had (0: none recorded): the restore step's attempt is
    this plus one."""
    most = 0
    for key in objects.keys(f"{base}/attempts/"):
        sink = _Buffer()
        try:
            if objects.get(key, sink):
                most = max(most, int(json.loads(sink.data.decode()).get("interruptions", 0)))
        except (ValueError, AttributeError):
            continue
    return most


def market(interruptions: int, spot_attempts: int) -> str | None:
    """'spot', 'on-demand', or None when the cap is reached (no relaunch)."""
    if interruptions > spot_attempts + 1:
        return None
    return "spot" if interruptions < spot_attempts else "on-demand"


def run_params(md: Callable[[str], bytes], cfg: dict[str, Any], market_type: str, attempt: int) -> dict[str, str]:
    """RunInstances' query parameters (docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RunInstances.html)
    from this instance's own metadata (md: a meta-data path, or 'user-data') and the pipe's relaunch settings
    (our tags, base64 JSON: CLOUD_METADATA's values may hold what the boot script's heredoc must not see)."""

    def text(path: str) -> str:
        return md(path).decode().strip()

    mac = text("mac")
    profile = json.loads(text("iam/info") or "{}").get("InstanceProfileArn", "")
    if not profile:
        raise StoreError("the instance's metadata names no instance profile (iam/info) to pass on")
    params = {
        "Action": "RunInstances", "Version": EC2_VERSION, "MinCount": "1", "MaxCount": "1",
        "ImageId": text("ami-id"), "InstanceType": text("instance-type"),
        "UserData": base64.b64encode(md("user-data")).decode(),  # as given at launch, gzip or text
        "IamInstanceProfile.Arn": profile,
        "SubnetId": text(f"network/interfaces/macs/{mac}/subnet-id"),
        "InstanceInitiatedShutdownBehavior": "terminate",
        "MetadataOptions.HttpTokens": "required", "MetadataOptions.HttpEndpoint": "enabled",
        "MetadataOptions.HttpPutResponseHopLimit": "1",
        "BlockDeviceMapping.1.DeviceName": text("block-device-mapping/root") or "/dev/sda1",
        "BlockDeviceMapping.1.Ebs.VolumeSize": str(cfg["disk_gb"]),
        "BlockDeviceMapping.1.Ebs.DeleteOnTermination": "true",
    }  # fmt: skip
    for i, group in enumerate(text(f"network/interfaces/macs/{mac}/security-group-ids").split(), 1):
        params[f"SecurityGroupId.{i}"] = group
    if market_type == "spot":
        params["InstanceMarketOptions.MarketType"] = "spot"
    tags = {**json.loads(base64.b64decode(cfg["tags_b64"])), "cml-attempt": str(attempt)}
    for n, kind in enumerate(("instance", "volume"), 1):
        params[f"TagSpecification.{n}.ResourceType"] = kind
        for i, (key, value) in enumerate(sorted(tags.items()), 1):
            params[f"TagSpecification.{n}.Tag.{i}.Key"], params[f"TagSpecification.{n}.Tag.{i}.Value"] = key, value
    return params


def run_instance(params: dict[str, str], keys: Any, region: str, endpoint: str = "") -> str:
    """The new instance's id. Raises StoreError (one line, EC2's error code) on a refusal."""
    url = endpoint.rstrip("/") + "/" if endpoint else f"https://ec2.{region}.amazonaws.com/"
    parts = urllib.parse.urlsplit(url)
    body = urllib.parse.urlencode(sorted(params.items())).encode()
    sha = hashlib.sha256(body).hexdigest()
    headers = signed_headers("POST", parts.netloc, "/", "", sha, keys, region, "ec2", datetime.datetime.now(UTC))
    del headers["host"]
    headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    status, _, stream = send("POST", url, headers, body)
    text = stream.read().decode(errors="replace") if hasattr(stream, "read") else ""
    found = re.search(r"<instanceId>([^<]+)</instanceId>", text)
    if status != 200 or not found:
        code = re.search(r"<Code>([^<]+)</Code>", text)
        raise StoreError(f"RunInstances: HTTP {status} {code.group(1) if code else ''}".strip())
    return found.group(1)

"""EC2 image rules moto (5.2) does not keep, enforced by the fault proxy (aws_faults.py) in front of it.

- CreateImage names: "3-128 alphanumeric characters, parentheses (()), square brackets ([]), spaces ( ), periods
  (.), slashes (/), dashes (-), single quotes ('), at-signs (@), or underscores(_)"
  (https://docs.aws.amazon.com/sdkfornet/v3/apidocs/items/EC2/MCreateImageRequestctorStringString.html), unique
  per account and region (EC2 answers InvalidAMIName.Duplicate, "AMI name ... is already in use by AMI ...").
- CreateImage from an instance that is neither running nor stopped: IncorrectInstanceState.
- TagSpecifications with ResourceType snapshot tag the snapshots CreateImage makes, in the same call (moto raises
  NotImplementedError for them): the proxy strips them, lets moto make the image, then tags its snapshots before
  it answers, so the pipe never sees an untagged snapshot of its image either.
- Images are not available at once: with ``hold_pending`` set, DescribeImages says "pending" for every image made
  through CreateImage (a test stops the pipe meanwhile); with ``fail_new`` set, "failed".
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}")
_VERSION = "2016-11-15"


@dataclass
class Refusal:
    code: str
    message: str
    status: int = 400


@dataclass
class ImageRules:
    upstream: urllib.parse.SplitResult
    hold_pending: bool = False
    fail_new: bool = False
    created: dict[str, str] = field(default_factory=dict)  # image id -> name, made through CreateImage
    _snapshot_tags: list[dict[str, str]] = field(default_factory=list)
    iam: Any = None  # an IamEnforcement (aws_iam.py) while IAM is enforced

    def reset(self) -> None:
        self.hold_pending = self.fail_new = False
        self.created.clear()

    def refuse(self, params: Mapping[str, list[str]], headers: Mapping[str, str]) -> Refusal | None:
        if _one(params, "Action") != "CreateImage":
            return None
        name = _one(params, "Name")
        if not _NAME.fullmatch(name):
            return Refusal("InvalidAMIName.Malformed", f"AMI names must be between 3 and 128 characters: {name!r}")
        for image_id, existing in self.created.items():
            if existing == name and self._exists(image_id, headers):
                return Refusal("InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI {image_id}")
        state = self._instance_state(_one(params, "InstanceId"), headers)
        if state not in ("running", "stopped"):
            return Refusal("IncorrectInstanceState", f"The instance is not in a valid state: {state or 'unknown'}")
        return None

    def request(self, params: dict[str, list[str]], body: bytes) -> bytes:
        """CreateImage without its snapshot TagSpecifications (kept for after the answer)."""
        if _one(params, "Action") != "CreateImage":
            return body
        self._snapshot_tags = []
        n = 1
        while f"TagSpecification.{n}.ResourceType" in params:
            prefix = f"TagSpecification.{n}."
            if params[prefix + "ResourceType"][0] == "snapshot":
                tags: dict[str, str] = {}
                m = 1
                while f"{prefix}Tag.{m}.Key" in params:
                    tags[params[f"{prefix}Tag.{m}.Key"][0]] = params.get(f"{prefix}Tag.{m}.Value", [""])[0]
                    m += 1
                self._snapshot_tags.append(tags)
                for key in [k for k in params if k.startswith(prefix)]:
                    del params[key]
            n += 1
        return urllib.parse.urlencode({k: v[0] for k, v in params.items()}).encode()

    def answered(self, params: Mapping[str, list[str]], data: bytes, headers: Mapping[str, str]) -> bytes:
        action = _one(params, "Action")
        if action == "CreateImage":
            found = re.search(rb"<imageId>(ami-[^<]+)</imageId>", data)
            if found:
                image_id = found.group(1).decode()
                self.created[image_id] = _one(params, "Name")
                for tags in self._snapshot_tags:
                    for snapshot in self._snapshots(image_id, headers):
                        self._tag(snapshot, tags, headers)
        if action == "DescribeImages" and (self.hold_pending or self.fail_new):
            state = b"failed" if self.fail_new else b"pending"
            for image_id in self.created:
                data = re.sub(
                    rb"(<imageId>" + re.escape(image_id.encode()) + rb"</imageId>.*?<imageState>)[a-z]+(</imageState>)",
                    rb"\g<1>" + state + rb"\g<2>",
                    data,
                    flags=re.S,
                )
        return data

    # -- calls of its own to moto, with the pipe's headers (moto reads the region from them)

    def _call(self, headers: Mapping[str, str], params: dict[str, str]) -> bytes:
        body = urllib.parse.urlencode({**params, "Version": _VERSION}).encode()
        sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")}
        sent["Content-Length"] = str(len(body))
        if self.iam is not None:  # IAM enforced (aws_iam.py): the fake's own bookkeeping, as an administrator
            sent = self.iam.sign("POST", f"http://{self.upstream.netloc}/", headers, body, as_admin=True)
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port)
        try:
            connection.request("POST", "/", body=body, headers=sent)
            return connection.getresponse().read()
        finally:
            connection.close()

    def _snapshots(self, image_id: str, headers: Mapping[str, str]) -> list[str]:
        data = self._call(headers, {"Action": "DescribeImages", "ImageId.1": image_id})
        return [s.decode() for s in re.findall(rb"<snapshotId>(snap-[^<]+)</snapshotId>", data)]

    def _tag(self, snapshot: str, tags: Mapping[str, str], headers: Mapping[str, str]) -> None:
        params: dict[str, Any] = {"Action": "CreateTags", "ResourceId.1": snapshot}
        for n, (key, value) in enumerate(tags.items(), start=1):
            params[f"Tag.{n}.Key"], params[f"Tag.{n}.Value"] = key, value
        self._call(headers, params)

    def _exists(self, image_id: str, headers: Mapping[str, str]) -> bool:
        data = self._call(headers, {"Action": "DescribeImages", "ImageId.1": image_id})
        return b"<imageId>" + image_id.encode() + b"</imageId>" in data

    def _instance_state(self, instance_id: str, headers: Mapping[str, str]) -> str:
        data = self._call(headers, {"Action": "DescribeInstances", "InstanceId.1": instance_id})
        found = re.search(rb"<instanceState>.*?<name>([a-z-]+)</name>", data, flags=re.S)
        return found.group(1).decode() if found else ""


def _one(params: Mapping[str, list[str]], key: str) -> str:
    return params.get(key, [""])[0]

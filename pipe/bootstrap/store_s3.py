"""S3 objects for checkpoints over S3's REST API, signed with Signature Version 4. Stdlib only: the VM's agent
ships it; COMMAND: restore uses it with the pipe's own AWS credentials (boto3's chain picks them).

SigV4 as docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html: the payload's SHA-256 in
x-amz-content-sha256, the session token in x-amz-security-token. A request signed for the wrong region is
refused with the bucket's own region in x-amz-bucket-region (docs .../API/API_HeadBucket.html): retried once
there. On the VM the credentials are the instance profile's, read from IMDSv2
(docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-metadata-security-credentials.html).
"""

from __future__ import annotations

import collections
import datetime
import hashlib
import hmac
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO, Callable  # noqa: UP035 - the VM may run Python 3.8

from pipe.bootstrap.checkpoints import CHUNK, Sink, StoreError

EMPTY_SHA = hashlib.sha256(b"").hexdigest()
UTC = datetime.timezone.utc  # noqa: UP017 - datetime.UTC is Python 3.11


# Not a typing.NamedTuple class: the shipped program has no annotations (shipping.py), and its fields are them.
AwsKeys = collections.namedtuple("AwsKeys", "access_key secret_key token", defaults=("",))


def send(method: str, url: str, headers: dict[str, str], body: Any = None, timeout: float = 60.0
         ) -> tuple[int, dict[str, str], Any]:  # fmt: skip
    """(status, lower-cased headers, the open response or b''); status 0 when the store cannot be reached."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - the store's URL
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e
    except (OSError, ValueError) as e:
        raise StoreError(f"{method} {url.split('?')[0]}: {e}") from None


def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(method: str, host: str, path: str, qs: str, sha: str, creds: Any, region: str, service: str,
                   when: datetime.datetime) -> dict[str, str]:  # fmt: skip
    """SigV4 (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html): the headers
    to send, host included (the caller drops it: urllib sets it)."""
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": host, "x-amz-content-sha256": sha, "x-amz-date": stamp}
    if creds.token:
        headers["x-amz-security-token"] = creds.token
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, qs, *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, sha])
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _sign(_sign(_sign(_sign(("AWS4" + creds.secret_key).encode(), stamp[:8]), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return headers


class S3Objects:
    def __init__(self, bucket: str, keys: Callable[[], AwsKeys], *, region: str = "us-east-1",
                 endpoint: str = "", now: Callable[[], datetime.datetime] | None = None,
                 region_known: bool = False) -> None:  # fmt: skip
        self.bucket, self.credentials, self.region = bucket, keys, region
        self.endpoint = endpoint.rstrip("/")  # a stand-in (path style); '' = AWS (virtual-hosted style)
        self.now = now or (lambda: datetime.datetime.now(UTC))
        # The VM is told the bucket's region (HeadBucket needs s3:ListBucket on the whole bucket, which the
        # instance's policy does not give); the pipe's own identity may ask.
        self.region_checked = region_known

    def _url(self, key: str, query: dict[str, str]) -> tuple[str, str, str, str]:
        """(host, canonical path, URL, canonical query)."""
        quoted = urllib.parse.quote(key, safe="/-_.~")
        if self.endpoint:
            parts = urllib.parse.urlsplit(self.endpoint)
            host, path, scheme = parts.netloc, f"/{self.bucket}/{quoted}", parts.scheme
        else:
            host, path, scheme = f"{self.bucket}.s3.{self.region}.amazonaws.com", "/" + quoted, "https"
        qs = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                      for k, v in sorted(query.items()))  # fmt: skip
        return host, path, f"{scheme}://{host}{path}" + (f"?{qs}" if qs else ""), qs

    def _request(self, method: str, key: str, *, query: dict[str, str] | None = None, body: Any = None,
                 sha: str = EMPTY_SHA, size: int = 0) -> tuple[int, dict[str, str], Any]:  # fmt: skip
        if not self.endpoint and not self.region_checked:
            # A body read from a file cannot be sent twice: learn the bucket's region first (HeadBucket answers
            # it in x-amz-bucket-region, whatever region the request was signed for).
            self.region_checked = True
            _, answer, _ = self._request("HEAD", "")
            self.region = answer.get("x-amz-bucket-region", "") or self.region
        host, path, url, qs = self._url(key, query or {})
        headers = signed_headers(method, host, path, qs, sha, self.credentials(), self.region, "s3", self.now())
        del headers["host"]
        if body is not None:  # urllib would say application/x-www-form-urlencoded, and a server may parse it
            headers["Content-Length"], headers["Content-Type"] = str(size), "application/octet-stream"
        return send(method, url, headers, body)

    def _fail(self, what: str, status: int, stream: object) -> StoreError:
        text = stream.read(2048).decode(errors="replace") if hasattr(stream, "read") else ""
        code = re.search(r"<Code>([^<]+)</Code>", text)
        hint = " (the instance profile needs s3:PutObject, s3:GetObject, s3:ListBucket, s3:DeleteObject on the " \
            "store's prefix)" if status == 403 else ""  # fmt: skip
        return StoreError(f"s3://{self.bucket}/{what}: HTTP {status} {code.group(1) if code else ''}{hint}".strip())

    def put(self, key: str, body: BinaryIO | bytes, size: int, sha256: str) -> None:
        status, _, stream = self._request("PUT", key, body=body, sha=sha256, size=size)
        if status != 200:
            raise self._fail(key, status, stream)

    def get(self, key: str, sink: Sink) -> bool:
        status, _, stream = self._request("GET", key)
        if status != 200:
            failure = self._fail(key, status, stream)
            if status == 404 and "NoSuchKey" in str(failure):  # not NoSuchBucket: a missing bucket is an error
                return False
            raise failure
        for block in iter(lambda: stream.read(CHUNK), b""):
            sink.write(block)
        return True

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
            status, _, stream = self._request("GET", "", query=query)
            if status != 200:
                raise self._fail(prefix, status, stream)
            text = stream.read().decode()
            found += [_unescape(k) for k in re.findall(r"<Key>([^<]*)</Key>", text)]
            more = re.search(r"<NextContinuationToken>([^<]+)</NextContinuationToken>", text)
            if not more:
                return found
            token = _unescape(more.group(1))

    def delete(self, key: str) -> None:
        status, _, stream = self._request("DELETE", key)
        if status not in (200, 204):
            raise self._fail(key, status, stream)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'").replace(
        "&amp;", "&")  # fmt: skip


def instance_keys(imds: str, request: Callable[..., tuple[int, bytes]]) -> Callable[[], AwsKeys]:
    """The instance profile's temporary keys from IMDSv2, fetched again 5 minutes before they expire."""
    cache: dict[str, object] = {}

    def keys() -> AwsKeys:
        now = datetime.datetime.now(UTC)
        if cache and now < cache["renew"]:  # type: ignore[operator]
            return cache["keys"]  # type: ignore[return-value]
        status, token = request("PUT", imds + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "300"}, 3.0)
        md = {"X-aws-ec2-metadata-token": token.decode()} if status == 200 else {}
        base = imds + "/latest/meta-data/iam/security-credentials/"
        status, role = request("GET", base, md, 3.0)
        if status != 200 or not role.strip():
            raise StoreError("the instance has no instance profile (CLOUD_PERMISSION_SET) to write the checkpoints")
        status, body = request("GET", base + role.decode().split()[0], md, 3.0)
        if status != 200:
            raise StoreError(f"instance profile credentials: HTTP {status}")
        data = json.loads(body)
        expires = datetime.datetime.strptime(data["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC)  # fmt: skip
        cache["keys"] = AwsKeys(data["AccessKeyId"], data["SecretAccessKey"], data.get("Token", ""))
        cache["renew"] = expires - datetime.timedelta(minutes=5)
        return cache["keys"]  # type: ignore[return-value]

    return keys

"""GCS objects for checkpoints over Cloud Storage's JSON API. Stdlib only, like store_s3.py.

Uploads are simple media uploads (cloud.google.com/storage/docs/uploading-objects, `uploadType=media`),
downloads `alt=media`, listings `objects.list` pages (`nextPageToken`). The bearer token is the caller's: on
a VM the instance's service account token from the metadata server, for the pipe its own credentials; a
stand-in (STORAGE_EMULATOR_HOST) takes none.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, BinaryIO, Callable  # noqa: UP035 - the VM may run Python 3.8

from pipe.bootstrap.checkpoints import CHUNK, Sink, StoreError
from pipe.bootstrap.store_s3 import send

GCS = "https://storage.googleapis.com"


class GcsObjects:
    def __init__(self, bucket: str, token: Callable[[], str], *, endpoint: str = "") -> None:
        self.bucket, self.token, self.base = bucket, token, (endpoint or GCS).rstrip("/")

    def _headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": "Bearer " + token} if token else {}

    def _object(self, key: str) -> str:
        return f"{self.base}/storage/v1/b/{self.bucket}/o/{urllib.parse.quote(key, safe='')}"

    def _fail(self, what: str, status: int, stream: Any) -> StoreError:
        text = stream.read(2048).decode(errors="replace") if hasattr(stream, "read") else ""
        try:
            message = str(json.loads(text)["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = text.strip()[:120]
        hint = " (the service account needs roles/storage.objectUser on the bucket)" if status == 403 else ""
        return StoreError(f"gs://{self.bucket}/{what}: HTTP {status} {message}{hint}".strip())

    def put(self, key: str, body: BinaryIO | bytes, size: int, sha256: str) -> None:
        url = (f"{self.base}/upload/storage/v1/b/{self.bucket}/o?uploadType=media&name="
               + urllib.parse.quote(key, safe=""))  # fmt: skip
        headers = {**self._headers(), "Content-Type": "application/octet-stream", "Content-Length": str(size)}
        status, _, stream = send("POST", url, headers, body)
        if status != 200:
            raise self._fail(key, status, stream)

    def get(self, key: str, sink: Sink) -> bool:
        status, _, stream = send("GET", self._object(key) + "?alt=media", self._headers())
        if status == 404:  # no object is no checkpoint; no bucket is an error ("The specified bucket does not
            failure = self._fail(key, status, stream)  # exist."); a 404 that does not say asks the bucket itself
            said = str(failure).split(": HTTP 404", 1)[1].strip().lower()
            if "bucket" in said or (not said and self._no_bucket()):
                raise failure
            return False
        if status != 200:
            raise self._fail(key, status, stream)
        for block in iter(lambda: stream.read(CHUNK), b""):
            sink.write(block)
        return True

    def _no_bucket(self) -> bool:
        status, _, _ = send("GET", f"{self.base}/storage/v1/b/{self.bucket}", self._headers())
        return status == 404  # 403: the identity may not read the bucket's metadata; its objects are what count

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        token = ""
        while True:
            query = {"prefix": prefix, **({"pageToken": token} if token else {})}
            url = f"{self.base}/storage/v1/b/{self.bucket}/o?" + urllib.parse.urlencode(query)
            status, _, stream = send("GET", url, self._headers())
            if status != 200:
                raise self._fail(prefix, status, stream)
            page = json.loads(stream.read().decode())
            found += [str(item["name"]) for item in page.get("items", [])]
            token = page.get("nextPageToken", "")
            if not token:
                return found

    def delete(self, key: str) -> None:
        status, _, stream = send("DELETE", self._object(key), self._headers())
        if status not in (200, 204, 404):
            raise self._fail(key, status, stream)

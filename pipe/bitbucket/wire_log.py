"""The DEBUG lines about each Bitbucket call: what was called and how it answered; never a header or a body,
which hold tokens, OAuth secrets of new runners and the user's files."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import requests

from pipe import log as redaction

log = logging.getLogger("pipe.bitbucket")


def request(method: str, url: str, auth_kind: str, params: Any, json_body: Any, data: Any, files: Any) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    parts = [f"bitbucket -> {method} {redaction.redact(url)}", f"auth={auth_kind}"]
    if params:
        parts.append(f"params={redaction.redact_fields(dict(params))}")
    if json_body is not None:
        parts.append(f"json body of {len(json.dumps(json_body, default=str)):,} characters")
    if data:
        parts.append(f"form fields {sorted(data)}")
    if files:
        names = list(files) if isinstance(files, Mapping) else [f[0] for f in files]
        parts.append(f"{len(names)} file(s)")
    log.debug(" ".join(parts))


def response(method: str, rel: str, resp: requests.Response, elapsed: float) -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    ctype = resp.headers.get("Content-Type", "") or "no type"
    size = len(resp.content)
    log.debug("bitbucket <- %s %s %s in %.3fs (%d bytes, %s)", method, rel, resp.status_code, elapsed, size, ctype)

"""Test-only control endpoints under /_fake/ (outside the spec; never counted, never faulted)."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from fakes.bitbucket.routing import Reply

if TYPE_CHECKING:
    from fakes.bitbucket.server import FakeBitbucket


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"type": "error", "error": {"message": message}})


def _oauth_token(fake: FakeBitbucket, body: bytes, headers_auth: str, ctype: str) -> Reply:
    """RFC 6749 client-credentials grant, as the runner does against Atlassian's token endpoint."""
    fields: dict[str, Any]
    if "json" in ctype:
        try:
            fields = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "invalid JSON")
    else:
        fields = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
    client_id = str(fields.get("client_id", ""))
    client_secret = str(fields.get("client_secret", ""))
    if headers_auth.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(headers_auth[6:]).decode().partition(":")
        except ValueError:
            return _error(401, "invalid client authentication")
    if fields.get("grant_type", "client_credentials") != "client_credentials":
        return Reply(400, {"error": "unsupported_grant_type"})
    issued = fake.present_oauth(client_id, client_secret)
    if issued is None:
        return Reply(401, {"error": "access_denied", "error_description": "Unauthorized"})
    return Reply(200, {"access_token": issued, "token_type": "Bearer", "expires_in": 3600, "scope": "runner"})


def handle_control(
    fake: FakeBitbucket, method: str, path: str, query: str, body: bytes, base: str, headers: dict[str, str]
) -> Reply:
    def payload() -> dict[str, Any]:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    if path == "/_fake/oauth2/token" and method == "POST":
        return _oauth_token(fake, body, headers.get("authorization", ""), headers.get("content-type", ""))
    if path.startswith("/_fake/runner/"):
        from fakes.bitbucket.runner_api import handle_runner_api

        return handle_runner_api(fake, method, path, query, body, headers.get("authorization", ""))
    if path == "/_fake/reset" and method == "POST":
        fake.reset()
        return Reply(204)
    if path == "/_fake/state" and method == "GET":
        return Reply(200, fake.dump())
    if path == "/_fake/requests" and method == "GET":
        with fake.lock:
            return Reply(200, {"total": fake.total_requests, "by_route": dict(fake.requests)})
    if path == "/_fake/faults":
        if method == "POST":
            data = payload()
            kind = str(data.pop("kind", "status"))
            fake.add_fault(kind, **{k: v for k, v in data.items() if k not in ("seen", "hits")})
            return Reply(201, {"faults": len(fake.faults)})
        if method == "DELETE":
            fake.clear_faults()
            return Reply(204)
    if path == "/_fake/tokens" and method == "POST":
        data = payload()
        scopes = data.get("scopes")
        fake.add_token(str(data["token"]), None if scopes is None else set(scopes))
        return Reply(201, {"token": "configured"})
    if path == "/_fake/merges" and method == "POST":
        with fake.lock:
            for repo in fake.repos.values():
                repo.refuse_merges = str(payload().get("refuse", ""))
        return Reply(204)
    m = re.fullmatch(r"/_fake/runners/([^/]+)/(busy|idle|offline)", path)
    if m and method == "POST":
        uuid, action = unquote(m.group(1)), m.group(2)
        try:
            if action == "busy":
                fake.set_runner_busy(uuid, payload().get("step"))
            elif action == "idle":
                fake.set_runner_idle(uuid)
            else:
                fake.set_runner_offline(uuid)
        except KeyError:
            return _error(404, f"no runner {uuid}")
        return Reply(204)
    m = re.fullmatch(r"/_fake/storage/([^/]+)/([^/]+)/(.+)", path)
    if m and method == "GET":
        with fake.lock:
            found = fake.repos.get(f"{unquote(m.group(1))}/{unquote(m.group(2))}")
            d = found.downloads.get(unquote(m.group(3))) if found else None
            if d is None:
                return _error(404, "no such download")
            d.downloads += 1
            return Reply(200, d.content, content_type="application/octet-stream")
    return _error(404, f"no control endpoint {method} {path}")

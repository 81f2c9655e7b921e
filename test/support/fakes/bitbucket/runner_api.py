"""Test-only runner protocol under /_fake/runner/ (the real runner's protocol is not public).

A runner signed in through /_fake/oauth2/token (its OAuth client-credentials grant) holds a bearer token;
with it the runner stand-in (test/support/fakes/vm/runner/runner.py) asks for its next step and reports its end:

    GET  /_fake/runner/steps/next?wait=S     200 {"uuid", "pipeline_uuid", "name", "duration_s"}, or 204
                                             after waiting up to S seconds (long poll) for a queued step
    POST /_fake/runner/steps/{uuid}/complete {"status": "PASSED" | "FAILED"} -> 204

A test queues steps with FakeBitbucket.queue_step(runner_uuid, duration_s).
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

from fakes.bitbucket.routing import Reply

if TYPE_CHECKING:
    from fakes.bitbucket.server import FakeBitbucket

MAX_WAIT_S = 25.0


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"type": "error", "error": {"message": message}})


def handle_runner_api(fake: FakeBitbucket, method: str, path: str, query: str, body: bytes,
                      authorization: str) -> Reply:  # fmt: skip
    scheme, _, token = authorization.partition(" ")
    with fake.lock:
        runner_uuid = fake.oauth_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if runner_uuid is None:
        return _error(401, "a runner's OAuth access token is required")
    if path == "/_fake/runner/steps/next" and method == "GET":
        try:
            wait = min(float(parse_qs(query).get("wait", ["0"])[0]), MAX_WAIT_S)
        except ValueError:
            return _error(400, "wait must be a number of seconds")
        step = fake.take_step(runner_uuid, wait)
        return Reply(200, step.json()) if step is not None else Reply(204)
    m = re.fullmatch(r"/_fake/runner/steps/([^/]+)/complete", path)
    if m and method == "POST":
        try:
            status = str(json.loads(body or b"{}").get("status", ""))
        except ValueError:
            return _error(400, "invalid JSON")
        if status not in ("PASSED", "FAILED"):
            return _error(400, "status must be PASSED or FAILED")
        with fake.lock:
            step = fake.steps.get(unquote(m.group(1)))
            if step is None or step.runner_uuid != runner_uuid or step.status != "RUNNING":
                return _error(404, "no such running step for this runner")
            step.status, step.completed_at = status, time.time()
            runner = fake.all_runners().get(runner_uuid)
            if runner is not None and runner.step is not None and runner.step.get("uuid") == step.uuid:
                runner.step = None
        return Reply(204)
    return _error(404, f"no runner endpoint {method} {path}")

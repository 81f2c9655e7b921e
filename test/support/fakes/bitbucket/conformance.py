"""Hold the fake's routing table and recorded responses to Atlassian's OpenAPI description."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

import jsonschema

from fakes.bitbucket.routing import ALWAYS_ALLOWED, Route
from fakes.bitbucket.spec import operation


def check_routes(routes: Iterable[Route], spec: dict[str, Any]) -> list[str]:
    """Problems with the table: unknown path or method, statuses the operation does not list.

    401/403/429/500/502/503 may come from any operation. A status in ``route.described`` must at least
    be documented in the operation's description text (e.g. POST /src's 409 on a stale parent).
    """
    problems: list[str] = []
    for r in routes:
        if r.template not in spec["paths"]:
            problems.append(f"{r.key}: path template not in the spec")
            continue
        op = operation(spec, r.method, r.template)
        if op is None:
            problems.append(f"{r.key}: method not in the spec for this path")
            continue
        listed = {int(code) for code in op.get("responses", {}) if code.isdigit()}
        for status in sorted(r.statuses - listed - ALWAYS_ALLOWED):
            problems.append(f"{r.key}: returns {status}, which the spec does not list ({sorted(listed)})")
        text = op.get("description", "") + " ".join(str(p.get("description", "")) for p in op.get("parameters", []))
        for status in sorted(r.described):
            if str(status) not in text:
                problems.append(f"{r.key}: returns {status}, which neither the responses nor the description name")
    return problems


# Where the spec contradicts Atlassian's own documentation, validate against the documented shape.
# report_data.value is declared `type: object`, but Code Insights documents numbers, booleans, strings
# (and objects only for LINK): {"title": "Coverage", "type": "PERCENTAGE", "value": 85.5}.
SPEC_QUIRKS: dict[str, dict[str, Any]] = {
    "report_data": {
        "type": "object",
        "properties": {
            "type": {"enum": ["BOOLEAN", "DATE", "DURATION", "LINK", "NUMBER", "PERCENTAGE", "TEXT"]},
            "title": {"type": "string"},
            "value": {},
        },
    }
}


@functools.cache
def _validator(spec_id: int, schema_json: str) -> jsonschema.Draft4Validator:
    spec = _SPECS[spec_id]
    schema = {"definitions": {**spec["definitions"], **SPEC_QUIRKS}, **json.loads(schema_json)}
    return jsonschema.Draft4Validator(schema)


_SPECS: dict[int, dict[str, Any]] = {}


def response_schema(spec: dict[str, Any], method: str, template: str, status: int) -> dict[str, Any] | None:
    op = operation(spec, method, template) or {}
    resp = op.get("responses", {}).get(str(status))
    if resp is not None:
        schema = resp.get("schema")
        return schema if isinstance(schema, dict) else None
    if status in ALWAYS_ALLOWED:
        return {"$ref": "#/definitions/error"}
    return None


def check_body(spec: dict[str, Any], method: str, template: str, status: int, body: Any) -> list[str]:
    """Schema errors of one JSON response body (loose: the spec's own additionalProperties rules apply)."""
    schema = response_schema(spec, method, template, status)
    if schema is None or body is None:
        return []
    _SPECS[id(spec)] = spec
    validator = _validator(id(spec), json.dumps(schema, sort_keys=True))
    return [
        f"{method} {template} {status}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
        for e in validator.iter_errors(body)
    ]

"""Request and response bodies held to Kubernetes' own published JSON schemas.

The schemas are the ones the `kubernetes-validate` package ships (kubernetes-validate 1.37.0, pinned in
requirements-test.txt), generated from the API server's OpenAPI document; SCHEMA_DIR picks the Kubernetes
1.35 set, the API version of the pinned `kubernetes` client (35.0.0), in its strict flavour: an unknown
field is an error, as with fieldValidation=Strict on a real server.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

from fakes.kubernetes.status import Cause

KUBERNETES_VERSION = "1.35"
SCHEMA_DIR = f"v{KUBERNETES_VERSION}.0-local-strict"


def _schema_file(name: str) -> Any:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", SCHEMA_DIR, name)
    return json.loads(root.read_text())


@functools.cache
def _registry() -> Registry:
    definitions = Resource.from_contents(_schema_file("_definitions.json"))
    return definitions @ Registry()


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.Draft202012Validator:
    """kind 'Job', api_version 'batch/v1' -> job-batch-v1.json (the package's file naming)."""
    group_version = api_version
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        group_version = f"{group.split('.', 1)[0]}-{version}"
    schema = _schema_file(f"{kind.lower()}-{group_version}.json")
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def field_path(parts: Any) -> str:
    """jsonschema's path deque -> `spec.template.spec.containers[0].image`."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check(kind: str, api_version: str, body: Any) -> tuple[list[str], list[Cause]]:
    """(unknown field paths, other problems as 422 causes) of body against the kind's schema."""
    unknown: list[str] = []
    causes: list[Cause] = []
    for error in sorted(_validator(kind, api_version).iter_errors(body), key=lambda e: list(map(str, e.path))):
        _explain(error, unknown, causes)
    return unknown, causes


def _explain(error: jsonschema.ValidationError, unknown: list[str], causes: list[Cause]) -> None:
    where = field_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        for key in sorted(k for k in error.instance if k not in known):
            unknown.append(f"{where}.{key}" if where else key)
        return
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else ""
        causes.append(Cause("FieldValueRequired", f"{where}.{missing}" if where else missing, "Required value"))
        return
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value if v is not None)
        causes.append(
            Cause(
                "FieldValueNotSupported",
                where,
                f"Unsupported value: {json.dumps(error.instance)}: supported values: {allowed}",
            )
        )
        return
    if error.validator == "oneOf" and error.context:  # quantities and int-or-string: say what the value is not
        causes.append(
            Cause("FieldValueInvalid", where, f"Invalid value: {json.dumps(error.instance)}: {error.message}")
        )
        return
    causes.append(Cause("FieldValueInvalid", where, f"Invalid value: {json.dumps(error.instance)}: {error.message}"))


def response_problems(kind: str, api_version: str, doc: dict[str, Any]) -> list[str]:
    """What in a response of ours the published schema would not describe (the fake's own bugs)."""
    unknown, causes = check(kind, api_version, doc)
    return [f"unknown field {u}" for u in unknown] + [f"{c.field}: {c.message}" for c in causes]

"""Requests held to Google's discovery document for compute v1 (shipped in google-api-python-client)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------
# Discovery document checks


def discovery_path() -> Path:
    """Google's discovery document for compute v1, as shipped in google-api-python-client."""
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "compute.v1.json"


@functools.cache
def discovery() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(discovery_path().read_text())
    return doc


def discovery_method(method_id: str) -> dict[str, Any] | None:
    """The discovery description of e.g. 'compute.instances.insert', or None."""
    _, resource, name = method_id.split(".")
    method: dict[str, Any] | None = discovery()["resources"].get(resource, {}).get("methods", {}).get(name)
    return method


def validate(schema: str | dict[str, Any], value: Any, *, method_id: str = "", where: str = "") -> list[str]:
    """Errors found checking value against a discovery schema: unknown fields, types, enums, required."""
    doc = discovery()
    spec: dict[str, Any] = doc["schemas"][schema] if isinstance(schema, str) else schema
    where = where or (schema if isinstance(schema, str) else "body")
    if "$ref" in spec:
        return validate(spec["$ref"], value, method_id=method_id, where=where)
    kind = spec.get("type")
    errors: list[str] = []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        props: dict[str, Any] = spec.get("properties", {})
        extra = spec.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                errors += validate(props[key], item, method_id=method_id, where=f"{where}.{key}")
            elif extra is not None:
                errors += validate(extra, item, method_id=method_id, where=f"{where}[{key!r}]")
            else:
                errors.append(f"{where}: unknown field {key!r}")
        if method_id:
            for key, prop in props.items():
                if method_id in prop.get("annotations", {}).get("required", []) and key not in value:
                    errors.append(f"{where}: missing required field {key!r} for {method_id}")
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {type(value).__name__}"]
        for i, item in enumerate(value):
            errors += validate(spec["items"], item, method_id=method_id, where=f"{where}[{i}]")
    elif kind == "string":
        fmt = spec.get("format")
        if fmt in ("int64", "uint64"):
            if isinstance(value, bool) or not (
                (isinstance(value, str) and re.fullmatch(r"-?\d+", value)) or isinstance(value, int)
            ):
                errors.append(f"{where}: expected an {fmt} (decimal string), got {value!r}")
        elif not isinstance(value, str):
            errors.append(f"{where}: expected a string, got {type(value).__name__}")
        elif "enum" in spec and value not in spec["enum"]:
            errors.append(f"{where}: {value!r} is not one of {spec['enum']}")
        elif "pattern" in spec and not re.fullmatch(spec["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {spec['pattern']}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: expected an integer, got {value!r}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{where}: expected a number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{where}: expected a boolean, got {value!r}")
    return errors


def validate_query(method_id: str, params: dict[str, str]) -> list[str]:
    """Errors for query parameters the discovery document does not list for this method."""
    method = discovery_method(method_id) or {}
    known = set(method.get("parameters", {})) | set(discovery()["parameters"]) | {"$alt"}
    return [f"unknown query parameter {name!r} for {method_id}" for name in params if name not in known]

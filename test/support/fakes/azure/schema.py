"""Strict checks of ARM JSON against the Azure SDK's own models.

The SDK's models (azure.mgmt.*.models, TypeSpec-generated) are mappings that keep
unknown keys silently, so "it deserialised" proves nothing. This module walks a
JSON document alongside a model class (its rest fields and type annotations) and
reports every key the model does not declare, every value of the wrong JSON
kind, and every value outside a known enum. The local Azure server runs it on
each request body it accepts and each response body it sends.
"""

from __future__ import annotations

import enum
import functools
import importlib
import sys
import types
import typing
from typing import Any

_MODELS_PACKAGES = {
    "azure.mgmt.compute": "azure.mgmt.compute.models",
    "azure.mgmt.network": "azure.mgmt.network.models",
    "azure.mgmt.resource.resources": "azure.mgmt.resource.resources.models",
}


# Enums the API treats as open lists: any string is sent on (VM sizes: the enum lists only old sizes).
OPEN_ENUMS = frozenset({"VirtualMachineSizeTypes"})


def _models_for(module_name: str) -> types.ModuleType | None:
    for prefix, models in _MODELS_PACKAGES.items():
        if module_name.startswith(prefix):
            return importlib.import_module(models)
    return None


@functools.cache
def _fields(cls: type) -> dict[str, tuple[str, Any]]:
    """rest name -> (attribute name, resolved annotation) for a model class."""
    cls.__new__(cls)  # type: ignore[call-overload]  # the SDK computes _attr_to_rest_field on first instantiation
    namespace: dict[str, Any] = dict(vars(sys.modules[cls.__module__]))
    models = _models_for(cls.__module__)
    if models is not None:
        namespace["_models"] = models
    hints = typing.get_type_hints(cls, globalns=namespace)
    rest_fields: dict[str, Any] = cls._attr_to_rest_field  # type: ignore[attr-defined]
    return {rf._rest_name: (attr, hints.get(attr, Any)) for attr, rf in rest_fields.items()}


def _is_model(tp: Any) -> bool:
    return (isinstance(tp, type) and hasattr(tp, "_attr_to_rest_field")) or (
        isinstance(tp, type) and getattr(tp, "_is_model", False) is True
    )


def check(model: type, data: Any, path: str = "$") -> list[str]:
    """Problems found when reading data as model; empty means it fits."""
    if not isinstance(data, dict):
        return [f"{path}: expected an object for {model.__name__}, got {type(data).__name__}"]
    fields = _fields(model)
    problems: list[str] = []
    for key, value in data.items():
        if key not in fields:
            problems.append(f"{path}.{key}: not a field of {model.__name__}")
            continue
        if value is None:
            continue
        problems.extend(_check_value(fields[key][1], value, f"{path}.{key}"))
    return problems


def _check_value(tp: Any, value: Any, path: str) -> list[str]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        enums = [
            a for a in options if isinstance(a, type) and issubclass(a, enum.Enum) and a.__name__ not in OPEN_ENUMS
        ]
        if str in options and len(enums) < len(options) - 1:  # an open enum: any string
            enums = []
        if enums and isinstance(value, str):
            allowed = {str(m.value).lower() for e in enums for m in e}
            if value.lower() not in allowed:
                return [f"{path}: {value!r} is not one of {sorted(allowed)}"]
            return []
        if len(options) == 1:
            return _check_value(options[0], value, path)
        results = [_check_value(o, value, path) for o in options]
        return [] if any(not r for r in results) else results[0]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [p for i, item in enumerate(value) for p in _check_value(args[0] if args else Any, item, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        item_type = args[1] if len(args) == 2 else Any
        return [p for k, v in value.items() for p in _check_value(item_type, v, f"{path}[{k!r}]")]
    if tp is Any or tp is object:
        return []
    if _is_model(tp):
        return check(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        allowed = {str(m.value).lower() for m in tp}
        if not isinstance(value, str) or value.lower() not in allowed:
            return [f"{path}: {value!r} is not one of {sorted(allowed)}"]
        return []
    return _check_scalar(tp, value, path)


def _check_scalar(tp: Any, value: Any, path: str) -> list[str]:
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif tp is str or (isinstance(tp, type) and tp.__module__ == "datetime"):
        ok = isinstance(value, str)
    else:
        ok = True  # bytes and other wire formats: not checked
    return [] if ok else [f"{path}: {value!r} is not a {getattr(tp, '__name__', tp)}"]

"""Kubernetes API errors as the API server writes them: a meta/v1 Status body with reason, code and details.

Wording follows k8s.io/apimachinery/pkg/api/errors (NewNotFound, NewAlreadyExists, NewInvalid, NewForbidden,
NewBadRequest, NewTooManyRequests, NewInternalError), e.g. `jobs.batch "runner-1" not found`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class Cause:
    """One field error of a 422 Invalid (field.Error): reason FieldValueRequired, FieldValueInvalid, ..."""

    reason: str
    field: str
    message: str


@dataclass
class KubeError(Exception):
    code: int
    message: str
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    causes: list[Cause] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)
        self.reason = self.reason or REASONS.get(self.code, "Unknown")

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = dict(self.details)
        if self.causes:
            details["causes"] = [{"reason": c.reason, "message": c.message, "field": c.field} for c in self.causes]
        if details:
            out["details"] = details
        return out


def resource_name(group: str, plural: str) -> str:
    """`jobs.batch`, or `pods` for the core group: how the API server names a resource in messages."""
    return f"{plural}.{group}" if group else plural


def not_found(group: str, plural: str, name: str) -> KubeError:
    return KubeError(
        404,
        f'{resource_name(group, plural)} "{name}" not found',
        details={"name": name, "group": group, "kind": plural},
    )


def already_exists(group: str, plural: str, name: str) -> KubeError:
    return KubeError(
        409,
        f'{resource_name(group, plural)} "{name}" already exists',
        details={"name": name, "group": group, "kind": plural},
    )


def invalid(group: str, kind: str, name: str, causes: list[Cause]) -> KubeError:
    """422: `Job.batch "x" is invalid: [spec.a: Required value, ...]` (one cause: no brackets)."""
    texts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return KubeError(
        422,
        f'{qualified} "{name}" is invalid: {joined}',
        details={"name": name, "group": group, "kind": kind},
        causes=causes,
    )


def forbidden(group: str, plural: str, name: str, verb: str, user: str, namespace: str) -> KubeError:
    subject = resource_name(group, plural) + (f' "{name}"' if name else "")
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return KubeError(
        403,
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{plural}" in API group "{group}"{where}',
        details={"name": name, "group": group, "kind": plural} if name else {"group": group, "kind": plural},
    )


def unauthorized() -> KubeError:
    return KubeError(401, "Unauthorized")


def bad_request(message: str) -> KubeError:
    return KubeError(400, message)

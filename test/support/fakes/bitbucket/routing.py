"""The fake's routing table: every Bitbucket route it serves, declared next to its handler with the
status codes that handler can return, so the conformance test can hold each one to the spec."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from fakes.bitbucket.server import Ctx

# Any operation on the real service can answer these (see specs/README.md).
ALWAYS_ALLOWED = frozenset({401, 403, 429, 500, 502, 503})


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class ApiError(Exception):
    """Raised by a handler: becomes Bitbucket's error body with this status."""

    def __init__(self, status: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data


class InvalidPagelen(ApiError):
    """A pagelen outside what the collection serves: Bitbucket's 400 "Invalid pagelen", which any paginated
    listing can answer although the spec's operations do not list 400."""


class RepoMissing(Exception):
    """The repository (or workspace) in the path does not exist: 404 where the route lists it, else 403."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


Handler = Callable[["Ctx"], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # the spec's path template, relative to basePath /2.0
    statuses: frozenset[int]  # every status the handler itself can return
    handler: Handler
    # statuses the spec's operation *description* documents though its `responses` omit them
    described: frozenset[int] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"

    def regex(self) -> re.Pattern[str]:
        return _compile(self.template)


_CACHE: dict[str, re.Pattern[str]] = {}


def _compile(template: str) -> re.Pattern[str]:
    rx = _CACHE.get(template)
    if rx is None:
        out = ""
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{"):
                name = part[1:-1]
                out += f"(?P<{name}>.+)" if name == "path" else f"(?P<{name}>[^/]+)"
            else:
                out += re.escape(part)
        rx = re.compile(f"^{out}/?$")
        _CACHE[template] = rx
    return rx


ROUTES: list[Route] = []


def route(
    method: str, template: str, statuses: set[int], described: set[int] | None = None
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES.append(Route(method, template, frozenset(statuses), fn, frozenset(described or ())))
        return fn

    return register


def match(routes: list[Route], method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path known for another method). Literal segments win over parameters."""
    path_known = False
    best: tuple[int, Route, dict[str, str]] | None = None
    for r in routes:
        m = r.regex().match(path)
        if not m:
            continue
        path_known = True
        if r.method != method:
            continue
        rank = r.template.count("{")
        if best is None or rank < best[0]:
            best = (rank, r, {k: unquote(v) for k, v in m.groupdict().items()})
    if best is None:
        return None, {}, path_known
    return best[1], best[2], path_known

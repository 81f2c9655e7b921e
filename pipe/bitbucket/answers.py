"""Reading Bitbucket's answers: their shape (one UnexpectedAnswer naming the call), their error messages
(with the scopes a 403 needs, from the spec), the links in them (which origin they point at), and what their
headers say about the rate limit.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import requests

from pipe.bitbucket.errors import BitbucketError, UnexpectedAnswer
from pipe.bitbucket.parse import ShapeError
from pipe.bitbucket.scopes import OPERATION_SCOPES

T = TypeVar("T")
_DEFAULT_PORT = {"http": 80, "https": 443}
MSG_401 = "Bitbucket rejected the credentials (401): the access token or API token is invalid or expired"


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) with default ports filled in; None for a URL that has user info or no host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORT.get(scheme, 0)


def shown_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else url[:80]


def _json_kind(value: Any) -> str:
    names = {list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return f"a JSON {names.get(type(value), type(value).__name__)}"


def json_object(resp: requests.Response, call: str) -> dict[str, Any]:
    """The answer's body as a JSON object; an HTML page, a list, an empty body... is one UnexpectedAnswer."""
    if not resp.content:
        raise UnexpectedAnswer(f"Bitbucket API {call} answered an empty body where a JSON object was expected")
    try:
        data = resp.json()
    except ValueError:
        kind = "an HTML page" if resp.content.lstrip()[:1] == b"<" else "a body that is not JSON"
        raise UnexpectedAnswer(
            f"Bitbucket API {call} answered {kind} where a JSON object was expected", resp.status_code
        ) from None
    if not isinstance(data, dict):
        raise UnexpectedAnswer(
            f"Bitbucket API {call} answered {_json_kind(data)} where a JSON object was expected",
            resp.status_code,
        )
    return data


def answer_value(value: Any, parse: Callable[[dict[str, Any]], T], call: str) -> T:
    """One object from inside an answer (a page's item, a merge task's result), parsed, or UnexpectedAnswer."""
    if not isinstance(value, dict):
        raise UnexpectedAnswer(f"Bitbucket API {call} answered {_json_kind(value)} where a JSON object was expected")
    try:
        return parse(value)
    except ShapeError as why:
        raise UnexpectedAnswer(f"Bitbucket API {call} answered {why}") from None


_TEMPLATE_RES: list[tuple[re.Pattern[str], str]] = []


def _template_for(path: str) -> str | None:
    """The spec's path template for a concrete API path (relative to the base URL), if any."""
    if not _TEMPLATE_RES:
        seen: set[str] = set()
        for _method, template in OPERATION_SCOPES:
            if template in seen:
                continue
            seen.add(template)
            parts = re.split(r"(\{[^}]+\})", template)
            rx = "".join(
                ("(.+)" if p == "{path}" else "[^/]+") if p.startswith("{") else re.escape(p) for p in parts if p
            )
            _TEMPLATE_RES.append((re.compile(rf"^{rx}/?$"), template))
        # Literal segments beat parameters: /pullrequests/activity before /pullrequests/{id}.
        _TEMPLATE_RES.sort(key=lambda item: (item[1].count("{"), -len(item[1])))
    for pattern, found in _TEMPLATE_RES:
        if pattern.match(path):
            return found
    return None


def scopes_for(method: str, path: str) -> tuple[str, ...]:
    """Scopes the operation ``method path`` needs, from the spec-derived table."""
    template = _template_for(path)
    if template is None:
        return ()
    return OPERATION_SCOPES.get((method.upper(), template), ())


def error_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return " ".join(err["message"].split())
    return ""


def _missing_scopes(resp: requests.Response) -> tuple[str, ...]:
    """Scopes Bitbucket says were required but not granted (error.data / error.detail), if it says so."""
    try:
        err = resp.json().get("error", {})
    except (ValueError, AttributeError):
        return ()
    for key in ("data", "detail"):
        info = err.get(key) if isinstance(err, dict) else None
        if isinstance(info, dict) and isinstance(info.get("required"), list):
            granted = set(info.get("granted") or [])
            return tuple(str(s) for s in info["required"] if s not in granted)
    return ()


def permanent_error(
    method: str, rel: str, resp: requests.Response, *, variable: str, hint: str, scrub: Callable[[Any], Any]
) -> BitbucketError:
    """A status that retrying cannot fix, as one line that says what to do (401, 403 with the scopes, 404...)."""
    status = resp.status_code
    detail = scrub(error_message(resp))
    if status == 401:
        return BitbucketError(MSG_401, status)
    if status == 403:
        needed = scopes_for(method, rel)
        missing = _missing_scopes(resp) or needed
        if missing:
            what = f"{variable} lacks scope {' and '.join(missing)}"
        else:
            what = f"{variable} lacks a scope this operation needs"
        msg = f"Bitbucket refused {method} {rel} (403): {what}, or the account has no access to this repository"
        return BitbucketError(f"{msg} (Bitbucket: {detail})" if detail else msg, status)
    if status == 404:
        msg = f"Bitbucket returned 404 for {method} {rel}"
        if detail:
            msg += f" ({detail})"
        repo_level = rel.count("/") <= 3 or not detail or "repositor" in detail.lower()
        if rel.startswith("/repositories/") and repo_level:
            msg += f": check BITBUCKET_WORKSPACE / BITBUCKET_REPO_SLUG{hint}"
        elif rel.startswith("/workspaces/") and (not detail or "workspace" in detail.lower()):
            msg += ": check BITBUCKET_WORKSPACE"
        return BitbucketError(msg, status)
    if status == 400:
        return BitbucketError(f"Bitbucket rejected {method} {rel} (400): {detail or resp.reason}", status)
    return BitbucketError(f"Bitbucket {method} {rel} failed ({status}): {detail or resp.reason}", status)


def retry_after(resp: requests.Response | None) -> float | None:
    """Seconds the answer asks to wait (Retry-After, in seconds or as an HTTP date); None when it does not say."""
    if resp is None:
        return None
    raw = resp.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paginated collection, its items parsed; ``more`` when Bitbucket gave a ``next`` link."""

    values: list[T]
    more: bool


@dataclass
class RateLimit:
    """What Bitbucket told us about the rate limit so far.

    Bitbucket Cloud sends X-RateLimit-Limit (requests per hour allowed for the resource, not what is
    left), X-RateLimit-Resource and X-RateLimit-NearLimit ("true" when under 20% of the hourly limit is
    left) on the scaled /2.0/repositories/* endpoints when called with an access token; it sends no
    Remaining or Reset header (https://bitbucket.org/blog/introducing-scaled-rate-limits-for-bitbucket-cloud-api;
    Atlassian support: the headers come only with repository, project or workspace access tokens,
    community.atlassian.com/forums/Bitbucket-questions/Reqeust-limitation/qaa-p/3218562). A 429 says
    "Rate limit for this resource has been exceeded"; Retry-After is honoured when present.
    """

    limit: int | None = None  # X-RateLimit-Limit, the last one seen
    near_limit: bool = False  # X-RateLimit-NearLimit: true was seen
    throttled: int = 0  # 429 answers received
    retry_after_s: float | None = None  # the last 429's Retry-After

    def observe(self, resp: requests.Response) -> None:
        raw_limit = resp.headers.get("X-RateLimit-Limit", "").strip()
        if raw_limit.isdigit() and len(raw_limit) <= 9:
            self.limit = int(raw_limit)
        if resp.headers.get("X-RateLimit-NearLimit", "").strip().lower() == "true":
            self.near_limit = True
        if resp.status_code == 429:
            self.throttled += 1
            self.retry_after_s = retry_after(resp)

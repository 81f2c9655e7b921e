"""HTTP plumbing for the Bitbucket client: auth, timeouts, retries, pagination, error messages.

Nothing here knows about runners or pull requests; ``client.py`` builds on :class:`Transport`.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from pipe.bitbucket.errors import BitbucketError
from pipe.bitbucket.scopes import OPERATION_SCOPES

log = logging.getLogger("pipe.bitbucket")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_EXC = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_SECRET_KEY = re.compile(r"secret|password|token$|^authorization$", re.IGNORECASE)
_REDACTED = "***"

MSG_401 = "Bitbucket rejected the credentials (401): the access token or API token is invalid or expired"


class Auth:
    """Bearer access token, or Basic Atlassian account email + API token."""

    def __init__(self, *, access_token: str = "", email: str = "", api_token: str = "") -> None:
        if access_token:
            self._header = f"Bearer {access_token}"
            self._secrets: tuple[str, ...] = (access_token,)
            self.variable = "BITBUCKET_ACCESS_TOKEN"
        elif email and api_token:
            basic = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
            self._header = f"Basic {basic}"
            self._secrets = (api_token, basic)
            self.variable = "ATLASSIAN_API_TOKEN"
        else:
            raise BitbucketError(
                "No Bitbucket credentials: set BITBUCKET_ACCESS_TOKEN, "
                "or ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN"
            )

    @property
    def header(self) -> str:
        """The Authorization header value."""
        return self._header

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in a log line or an error message."""
        return self._secrets

    def __repr__(self) -> str:
        return f"Auth({self.variable}=***)"


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


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON-like value with secret-looking fields and known secret strings masked."""
    if isinstance(value, Mapping):
        return {
            k: (_REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else redact(v, secrets))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for s in secrets:
            if s:
                value = value.replace(s, _REDACTED)
        return value
    return value


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


def _retry_after(resp: requests.Response | None) -> float | None:
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
class Page:
    """One page of a paginated collection; ``more`` when Bitbucket gave a ``next`` link."""

    values: list[dict[str, Any]]
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
            self.retry_after_s = _retry_after(resp)


class Transport:
    """A requests.Session bound to one API base URL, with auth, timeouts, retries and error mapping.

    ``sleep``, ``clock`` and ``rand`` are injectable so tests never wait: the retry budget counts the
    time asked of ``sleep`` as well as the clock, so a no-op sleep still exhausts it.
    """

    def __init__(
        self,
        auth: Auth,
        api_url: str,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_retry_time_s: float = 120.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
        repository_hint: str = "",
    ) -> None:
        self.auth = auth
        self.api_url = api_url.rstrip("/")
        self._base = urlsplit(self.api_url)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_retry_time_s = max_retry_time_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "cml-runner-pipe"})
        self.repository_hint = repository_hint
        self.request_count = 0
        self.rate_limit = RateLimit()
        self._secrets: set[str] = set(auth.secrets)

    # --- secrets
    def remember_secret(self, secret: str) -> None:
        """Mask this string in every later log line (e.g. a runner's OAuth client secret)."""
        if secret:
            self._secrets.add(secret)

    def _scrub(self, value: Any) -> Any:
        return redact(value, sorted(self._secrets, key=len, reverse=True))

    # --- URLs
    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.api_url}{path}"

    def _rel(self, url: str) -> str:
        """The path of ``url`` relative to the API base, for messages and scope lookups."""
        parts = urlsplit(url)
        path = parts.path
        if path.startswith(self._base.path):
            path = path[len(self._base.path) :] or "/"
        return path

    # --- requests
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        ok: Iterable[int] = (200, 201, 202, 204),
        passthrough: Iterable[int] = (),
    ) -> requests.Response:
        """Send with retries; return the response when its status is in ``ok`` or ``passthrough``.

        Other statuses raise :class:`BitbucketError` with a one-line message that says what to fix.
        """
        url = self.url(path)
        rel = self._rel(url)
        accepted = set(ok) | set(passthrough)
        start = self._clock()
        slept = 0.0
        attempt = 0
        headers = {"Authorization": self.auth.header}
        while True:
            attempt += 1
            resp: requests.Response | None = None
            failure = ""
            self.request_count += 1
            self._log_request(method, url, params, json_body, data, files)
            t0 = self._clock()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=data,
                    files=files,
                    headers=headers,
                    timeout=self.timeout_s,
                )
            except _TRANSIENT_EXC as exc:
                failure = f"{type(exc).__name__}"
                log.debug("bitbucket %s %s -> %s after %.3fs", method, rel, failure, self._clock() - t0)
            else:
                self._log_response(method, rel, resp, self._clock() - t0)
                self.rate_limit.observe(resp)
                if resp.status_code in accepted:
                    return resp
                if resp.status_code not in RETRYABLE_STATUS:
                    raise self._permanent_error(method, rel, resp)
                failure = f"{resp.status_code} {resp.reason or ''}".strip()
            # transient: back off, or give up within the bounds
            delay = _retry_after(resp)
            if delay is None:
                delay = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (attempt - 1)))
                delay = delay / 2 + self._rand() * delay / 2  # "equal jitter"
            elapsed = max(self._clock() - start, slept)
            if attempt > self.max_retries or elapsed + delay > self.max_retry_time_s:
                reason = (
                    f"after {attempt} attempt(s)"
                    if attempt > self.max_retries
                    else f"retry budget of {self.max_retry_time_s:g}s exhausted (next wait {delay:.1f}s)"
                )
                raise BitbucketError(
                    f"Bitbucket API {method} {rel} kept failing ({failure}) {reason}: "
                    "Bitbucket is unavailable or rate-limiting; retry later",
                    status=resp.status_code if resp is not None else None,
                )
            log.info("Bitbucket %s %s: %s; retrying in %.1fs (attempt %d)", method, rel, failure, delay, attempt)
            self._sleep(delay)
            slept += delay

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError as exc:
            raise BitbucketError(
                f"Bitbucket API {method} {self._rel(resp.url)} returned a non-JSON body", resp.status_code
            ) from exc

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Yield every item of a paginated collection, following ``next`` links."""
        for page in self.pages(path, params):
            yield from page.values

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Page]:
        """Yield a paginated collection page by page; the next page is fetched only when asked for, so a
        caller that stops early (a match found) pays for the pages it read and no more."""
        url: str | None = self.url(path)
        query: Mapping[str, Any] | None = params
        while url:
            page = self.json("GET", url, params=query)
            if not isinstance(page, dict):
                return
            values = page.get("values", [])
            nxt = page.get("next")
            url = nxt if isinstance(nxt, str) and nxt else None
            yield Page([v for v in values if isinstance(v, dict)] if isinstance(values, list) else [], bool(url))
            query = None  # `next` carries the query
            if url:
                n = urlsplit(url)
                if (n.scheme, n.netloc) != (self._base.scheme, self._base.netloc):
                    raise BitbucketError(
                        f"Bitbucket pagination pointed outside {self._base.netloc}; refusing to follow"
                    )

    # --- errors
    def _permanent_error(self, method: str, rel: str, resp: requests.Response) -> BitbucketError:
        status = resp.status_code
        detail = self._scrub(error_message(resp))
        if status == 401:
            return BitbucketError(MSG_401, status)
        if status == 403:
            needed = scopes_for(method, rel)
            missing = _missing_scopes(resp) or needed
            if missing:
                what = f"{self.auth.variable} lacks scope {' and '.join(missing)}"
            else:
                what = f"{self.auth.variable} lacks a scope this operation needs"
            msg = f"Bitbucket refused {method} {rel} (403): {what}, or the account has no access to this repository"
            return BitbucketError(f"{msg} (Bitbucket: {detail})" if detail else msg, status)
        if status == 404:
            msg = f"Bitbucket returned 404 for {method} {rel}"
            if detail:
                msg += f" ({detail})"
            repo_level = rel.count("/") <= 3 or not detail or "repositor" in detail.lower()
            if rel.startswith("/repositories/") and repo_level:
                msg += f": check BITBUCKET_WORKSPACE / BITBUCKET_REPO_SLUG{self.repository_hint}"
            elif rel.startswith("/workspaces/") and (not detail or "workspace" in detail.lower()):
                msg += ": check BITBUCKET_WORKSPACE"
            return BitbucketError(msg, status)
        if status == 400:
            return BitbucketError(f"Bitbucket rejected {method} {rel} (400): {detail or resp.reason}", status)
        return BitbucketError(f"Bitbucket {method} {rel} failed ({status}): {detail or resp.reason}", status)

    # --- logging (DEBUG only; every value passes through _scrub)
    def _log_request(self, method: str, url: str, params: Any, json_body: Any, data: Any, files: Any) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        headers = self._scrub({**self.session.headers, "Authorization": self.auth.header})
        parts = [f"bitbucket -> {method} {url}", f"headers={headers}"]
        if params:
            parts.append(f"params={self._scrub(dict(params))}")
        if json_body is not None:
            parts.append(f"json={json.dumps(self._scrub(json_body))[:2000]}")
        if data:
            parts.append(f"form={self._scrub(dict(data))}")
        if files:
            names = list(files) if isinstance(files, Mapping) else [f[0] for f in files]
            parts.append(f"files={names}")
        log.debug(" ".join(parts))

    def _log_response(self, method: str, rel: str, resp: requests.Response, elapsed: float) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        body: Any = ""
        ctype = resp.headers.get("Content-Type", "")
        if "json" in ctype and resp.content:
            try:
                body = json.dumps(self._scrub(resp.json()))[:2000]
            except ValueError:
                body = "<invalid json>"
        elif resp.content:
            body = f"<{len(resp.content)} bytes {ctype}>"
        log.debug("bitbucket <- %s %s %s in %.3fs %s", method, rel, resp.status_code, elapsed, body)

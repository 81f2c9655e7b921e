"""HTTP plumbing for the Bitbucket client: the origin check, timeouts, retries, redirects, pagination.

Every request passes through Transport.request: the token goes only to BITBUCKET_API_URL's origin, and a
POST is not sent again after a failure that may have reached Bitbucket (UncertainWrite). Reading answers
(shapes, error messages, scopes) is answers.py; credentials are auth.py. Nothing here knows about runners
or pull requests; ``client.py`` builds on :class:`Transport`.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from pipe.bitbucket.answers import (
    Page,
    RateLimit,
    answer_value,
    error_message,
    json_object,
    origin,
    permanent_error,
    retry_after,
    scopes_for,
    shown_origin,
)
from pipe.bitbucket.auth import Auth
from pipe.bitbucket.errors import BitbucketError, UncertainWrite, UnexpectedAnswer

__all__ = ["Auth", "Page", "RateLimit", "Transport", "error_message", "scopes_for"]

T = TypeVar("T")

log = logging.getLogger("pipe.bitbucket")

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_TRANSIENT_EXC = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_SECRET_KEY = re.compile(r"secret|password|token$|^authorization$", re.IGNORECASE)
_REDACTED = "***"


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


def never_sent(exc: Exception) -> bool:
    """True when the connection failed before the request went out: only then is a POST safe to send again."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, urllib3.exceptions.NewConnectionError)


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
        """The absolute URL for an API path, or `path` itself if it is a URL on the API's own origin.

        The one check every request passes: the Authorization header goes only to the origin of
        BITBUCKET_API_URL. A `next` link, a Location header or a redirect naming any other scheme, host
        or port is refused before anything is sent (CONTRACT-NOTES: origins).
        """
        if not (path.startswith("//") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path)):
            return f"{self.api_url}{path}"
        if origin(path) is None or origin(path) != origin(self.api_url):
            raise UnexpectedAnswer(
                f"Bitbucket answered with a link to {shown_origin(path)}, which is not {shown_origin(self.api_url)} "
                "(BITBUCKET_API_URL): refused, the token is sent only to the API's own host"
            )
        return path

    def absolute(self, link: str, answered: str) -> str:
        """A Location or next link, resolved against the URL that answered with it (it may be relative)."""
        return urljoin(answered, link)

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
        repeatable: bool | None = None,
    ) -> requests.Response:
        """Send with retries; return the response when its status is in ``ok`` or ``passthrough``.

        Other statuses raise :class:`BitbucketError` with a one-line message that says what to fix.
        ``repeatable`` (default: every method but POST) says whether the request may be sent again after a
        failure that may have reached Bitbucket (a timeout, a 5xx, a dropped connection); a POST that may
        have created something raises :class:`UncertainWrite` instead. A 429 or a connection that was never
        made is retried for every method: nothing was done.
        """
        url = self.url(path)
        rel = self._rel(url)
        accepted = set(ok) | set(passthrough)
        repeat = method.upper() != "POST" if repeatable is None else repeatable
        start = self._clock()
        slept = 0.0
        attempt = 0
        redirects = 0
        headers = {"Authorization": self.auth.header}
        while True:
            attempt += 1
            resp: requests.Response | None = None
            failure = ""
            maybe_done = False
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
                    allow_redirects=False,  # followed below, after the origin check
                )
            except _TRANSIENT_EXC as exc:
                failure = f"{type(exc).__name__}"
                maybe_done = not never_sent(exc)
                log.debug("bitbucket %s %s -> %s after %.3fs", method, rel, failure, self._clock() - t0)
            else:
                self._log_response(method, rel, resp, self._clock() - t0)
                self.rate_limit.observe(resp)
                if resp.status_code in accepted:
                    return resp
                if resp.status_code in REDIRECT_STATUS:
                    url = self._redirect(method, rel, url, resp, redirects)
                    redirects += 1
                    attempt -= 1  # a redirect is not a failure
                    params = None  # the Location carries the query
                    continue
                if resp.status_code not in RETRYABLE_STATUS:
                    raise permanent_error(
                        method, rel, resp, variable=self.auth.variable, hint=self.repository_hint, scrub=self._scrub
                    )
                failure = f"{resp.status_code} {resp.reason or ''}".strip()
                maybe_done = resp.status_code != 429  # Bitbucket refuses a rate-limited call before doing it
            if maybe_done and not repeat:
                raise UncertainWrite(
                    f"Bitbucket API {method} {rel} failed ({failure}) after the request may have reached Bitbucket",
                    status=resp.status_code if resp is not None else None,
                )
            # transient: back off, or give up within the bounds
            delay = retry_after(resp)
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

    def _redirect(self, method: str, rel: str, url: str, resp: requests.Response, done: int) -> str:
        """Where a 3xx points, if the token may follow it: the same origin, a GET, a bounded number of hops."""
        target = self.absolute(resp.headers.get("Location", ""), url)
        if origin(target) != origin(self.api_url):
            raise UnexpectedAnswer(
                f"Bitbucket API {method} {rel} redirected to {shown_origin(target)}, which is not "
                f"{shown_origin(self.api_url)} (BITBUCKET_API_URL): refused, the token is sent only to the API's host"
            )
        if method.upper() not in ("GET", "HEAD") or done >= MAX_REDIRECTS:
            raise BitbucketError(f"Bitbucket API {method} {rel} answered an unexpected redirect ({resp.status_code})")
        return target

    def answer(self, resp: requests.Response, parse: Callable[[dict[str, Any]], T]) -> T:
        """The response body as a JSON object turned into a model by ``parse``; any other shape is one
        UnexpectedAnswer naming the call (an HTML page, a list, an empty body, a field of the wrong type)."""
        call = f"{resp.request.method if resp.request else ''} {self._rel(resp.url)}".strip()
        return answer_value(json_object(resp, call), parse, call)

    def fetch(self, method: str, path: str, parse: Callable[[dict[str, Any]], T], **kwargs: Any) -> T:
        return self.answer(self.request(method, path, **kwargs), parse)

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The answer as a JSON object (any other shape is an UnexpectedAnswer naming the call)."""
        return self.fetch(method, path, lambda data: data, **kwargs)

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, parse: Callable[[dict[str, Any]], T] | None = None
    ) -> Iterator[Any]:
        """Yield every item of a paginated collection (parsed by ``parse``), following ``next`` links."""
        yield from self.items(self.request("GET", path, params=params, ok=(200,)), parse)

    def items(self, resp: requests.Response, parse: Callable[[dict[str, Any]], T] | None = None) -> Iterator[Any]:
        """The items of a page already answered, then of every page its ``next`` links lead to."""
        for page in self.pages_from(resp, parse):
            yield from page.values

    def pages(
        self, path: str, params: Mapping[str, Any] | None = None, parse: Callable[[dict[str, Any]], T] | None = None
    ) -> Iterator[Page[Any]]:
        """A paginated collection page by page; the next page is fetched only when asked for, so a caller that
        stops early (a match found) pays for the pages it read and no more."""
        yield from self.pages_from(self.request("GET", path, params=params, ok=(200,)), parse)

    def pages_from(
        self, resp: requests.Response, parse: Callable[[dict[str, Any]], T] | None = None
    ) -> Iterator[Page[Any]]:
        """The page already answered, then every page its ``next`` links lead to, each checked whole (its
        shape, every item through ``parse``) before it is yielded.

        Every page goes through request(), so a ``next`` link to another origin, on the first page or any
        later one, is refused before the token goes anywhere.
        """
        while True:
            call = f"GET {self._rel(resp.url)}"
            page = json_object(resp, call)
            values = page.get("values", [])
            if not isinstance(values, list):
                raise UnexpectedAnswer(f"Bitbucket API {call} answered a page whose values are not a list")
            nxt = page.get("next")
            if nxt and not isinstance(nxt, str):
                raise UnexpectedAnswer(f"Bitbucket API {call} answered a page whose next link is not a string")
            parsed = values if parse is None else [answer_value(value, parse, call) for value in values]
            yield Page(parsed, bool(nxt))
            if not nxt:
                return
            resp = self.request("GET", self.absolute(nxt, resp.url), ok=(200,))

    def back_off(self, attempt: int) -> None:
        """Wait before attempt number ``attempt + 1``, as a retry does (capped exponential, equal jitter)."""
        delay = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (attempt - 1)))
        self._sleep(delay / 2 + self._rand() * delay / 2)

    # --- logging (DEBUG only): what was called and how it answered; never a header or a body, which hold
    # tokens, OAuth secrets of new runners and the user's files.
    def _log_request(self, method: str, url: str, params: Any, json_body: Any, data: Any, files: Any) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        parts = [f"bitbucket -> {method} {self._scrub(url)}", f"auth={self.auth.kind}"]
        if params:
            parts.append(f"params={self._scrub(dict(params))}")
        if json_body is not None:
            parts.append(f"json body of {len(json.dumps(json_body, default=str)):,} characters")
        if data:
            parts.append(f"form fields {sorted(data)}")
        if files:
            names = list(files) if isinstance(files, Mapping) else [f[0] for f in files]
            parts.append(f"{len(names)} file(s)")
        log.debug(" ".join(parts))

    def _log_response(self, method: str, rel: str, resp: requests.Response, elapsed: float) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        ctype = resp.headers.get("Content-Type", "") or "no type"
        log.debug(
            "bitbucket <- %s %s %s in %.3fs (%d bytes, %s)",
            method,
            rel,
            resp.status_code,
            elapsed,
            len(resp.content),
            ctype,
        )

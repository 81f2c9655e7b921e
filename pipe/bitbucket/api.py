"""What every area of the Bitbucket client shares: the transport, the repository's paths, and the rule that a
POST whose answer was lost is looked for before it is sent again (CONTRACT-NOTES: a POST that creates)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

import requests

from pipe.bitbucket import parse
from pipe.bitbucket.auth import Auth
from pipe.bitbucket.errors import BitbucketError, UncertainWrite
from pipe.bitbucket.http import RateLimit, Transport
from pipe.bitbucket.models import Repository, RunnerScope

T = TypeVar("T")
DEFAULT_API_URL = "https://api.bitbucket.org/2.0"
log = logging.getLogger("pipe.bitbucket")


def seg(value: str) -> str:
    """One URL path segment (branch names may hold '/')."""
    return quote(value, safe="")


class ApiBase:
    def __init__(
        self,
        auth: Auth,
        workspace: str,
        repo_slug: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_retry_time_s: float = 120.0,
        runner_scope: RunnerScope = "repository",
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        pending_retries: int = 3,
    ) -> None:
        """``sleep`` is what retries and 202 polling wait with (tests pass a no-op).

        ``pending_retries`` bounds how often a 202 "still indexing" answer is polled again.
        """
        if runner_scope not in ("repository", "workspace"):
            raise BitbucketError(f"runner scope must be 'repository' or 'workspace', not {runner_scope!r}")
        self.workspace = workspace
        self.repo_slug = repo_slug
        self.runner_scope = runner_scope
        self._sleep = sleep
        self._pending_retries = pending_retries
        self.http = Transport(
            auth,
            api_url or DEFAULT_API_URL,
            timeout_s=timeout_s,
            max_retries=max_retries,
            max_retry_time_s=max_retry_time_s,
            sleep=sleep,
            session=session,
            repository_hint=f" (looked for {workspace}/{repo_slug})",
        )
        self._repo = f"/repositories/{seg(workspace)}/{seg(repo_slug)}"
        self._runners_in: dict[str, str] = {
            "repository": f"{self._repo}/pipelines-config/runners",
            "workspace": f"/workspaces/{seg(workspace)}/pipelines-config/runners",
        }
        self._runners = self._runners_in[runner_scope]

    # --- creating: a POST whose answer was lost is looked for before it is sent again
    def _create(self, what: str, post: Callable[[], T], find: Callable[[], T | None]) -> T:
        """post(), and after a failure that may have reached Bitbucket (UncertainWrite), find() what it would
        have created before posting again: a lost answer must not make a second runner, comment or PR.

        find() returns what it found (the POST landed: done), or None (not there: post again). Attempts and
        waits are bounded like every retry of the transport.
        """
        attempt = 0
        while True:
            try:
                return post()
            except UncertainWrite as uncertain:
                attempt += 1
                log.info("%s; looking for the %s before trying again", uncertain, what)
                found = find()
                if found is not None:
                    log.info("The %s was created after all; using it", what)
                    return found
                if attempt > self.http.max_retries:
                    raise BitbucketError(
                        f"{uncertain}; the {what} was not created, gave up after {attempt} attempts"
                    ) from None
                self.http.back_off(attempt)

    # --- repository and user
    def repository(self) -> Repository:
        return self.http.fetch("GET", self._repo, parse.repository, ok=(200,))

    def current_user_uuid(self) -> str:
        return self.http.fetch("GET", "/user", parse.user_uuid, ok=(200,))

    # --- observability
    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self.http.request_count

    @property
    def rate_limit(self) -> RateLimit:
        """What Bitbucket's answers said about the rate limit so far (429s, X-RateLimit-* headers)."""
        return self.http.rate_limit

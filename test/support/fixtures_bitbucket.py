"""Fixtures for the local Bitbucket (test/support/fakes/bitbucket). Loaded for every test by conftest.py.

Typical use::

    def test_report_comments_on_the_pr(bitbucket, bb_client, bb_env):
        head = bitbucket.repo().branches["main"]          # direct state access
        ...run the pipe with env=bb_env...
        assert [c.raw for c in bb_client.list_pr_comments(1)] == [...]
        assert bitbucket.request_count() == 4              # API calls served (/_fake/ excluded)

The server is started once per session (per xdist worker) and reset before each test that uses
``bitbucket``: one workspace ``acme``, repository ``ml-seeds`` with branch ``main`` at an initial
commit (README.md), user "CML Bot", and a full-scope token ``DEFAULT_TOKEN``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.bitbucket import DEFAULT_EMAIL, DEFAULT_REPO, DEFAULT_TOKEN, DEFAULT_WORKSPACE, FakeBitbucket

from pipe.bitbucket.client import Auth, BitbucketClient


@pytest.fixture(scope="session")
def bitbucket_server() -> Iterator[FakeBitbucket]:
    """The session's FakeBitbucket process-in-a-thread; use ``bitbucket`` instead, which resets it."""
    fake = FakeBitbucket().start()
    yield fake
    fake.stop()


@pytest.fixture
def bitbucket(bitbucket_server: FakeBitbucket) -> FakeBitbucket:
    """A started, freshly reset FakeBitbucket (see the module docstring for the seeded state).

    Useful state and helpers: ``.url`` (BITBUCKET_API_URL), ``.repo()`` (branches, commits, runners,
    pulls, comments, downloads, reports, annotations, ``refuse_merges``, ``indexing_pending``),
    ``.add_token(token, scopes)``, ``.add_user(...)``, ``.present_oauth(id, secret)`` (runner ONLINE),
    ``.set_runner_busy/idle/offline(uuid)``, ``.add_fault(kind, ...)``, ``.request_count(route)``, ``.dump()``.
    """
    bitbucket_server.reset()
    return bitbucket_server


@pytest.fixture
def bb_token() -> str:
    """The seeded full-scope access token."""
    return DEFAULT_TOKEN


@pytest.fixture
def bb_client(bitbucket: FakeBitbucket) -> BitbucketClient:
    """A BitbucketClient on acme/ml-seeds at the fake, Bearer DEFAULT_TOKEN, retries that never sleep."""
    return BitbucketClient(
        Auth(access_token=DEFAULT_TOKEN),
        DEFAULT_WORKSPACE,
        DEFAULT_REPO,
        bitbucket.url,
        timeout_s=5.0,
        max_retries=3,
        max_retry_time_s=60.0,
        sleep=lambda _s: None,
    )


@pytest.fixture
def bb_env(bitbucket: FakeBitbucket) -> dict[str, str]:
    """Bitbucket Pipelines variables pointing the pipe at the fake (merge into the pipe's environment)."""
    return {**bitbucket.pipeline_env(), "ATLASSIAN_ACCOUNT_EMAIL_FOR_BASIC": DEFAULT_EMAIL}

"""Transient faults from the local Bitbucket: the client recovers within its bounds, and past them fails
with one clear line. Sleeping is injected: no test waits on retries or asserts on wall-clock time."""

from __future__ import annotations

import logging

import pytest
from fakes.bitbucket import DEFAULT_TOKEN, FakeBitbucket

from pipe.bitbucket.client import Auth, BitbucketClient, BitbucketError

RUNNERS = r"/pipelines-config/runners$"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(fake: FakeBitbucket, sleeps: Sleeps, **kwargs: object) -> BitbucketClient:
    opts: dict[str, object] = {"timeout_s": 5.0, "max_retries": 4, "max_retry_time_s": 60.0}
    opts.update(kwargs)
    return BitbucketClient(
        Auth(access_token=DEFAULT_TOKEN),
        "acme",
        "ml-seeds",
        fake.url,
        sleep=sleeps,
        **opts,  # type: ignore[arg-type]
    )


def test_429_honours_retry_after(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("status", status=429, retry_after="7", times=2, path=RUNNERS)
    assert client(bitbucket, sleeps).list_runners() == []
    assert sleeps == [7.0, 7.0]
    assert bitbucket.request_count() == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_backs_off_with_jitter_and_recovers(bitbucket: FakeBitbucket, status: int) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("status", status=status, times=3)
    c = client(bitbucket, sleeps)
    assert c.repository().full_name == "acme/ml-seeds"
    assert len(sleeps) == 3 and c.request_count == 4
    # exponential: each wait within [base*2^n / 2, base*2^n]
    for n, s in enumerate(sleeps):
        assert 0.5 * 2**n / 2 <= s <= 0.5 * 2**n


def test_dropped_connection_is_retried(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("drop", times=2)
    assert client(bitbucket, sleeps).current_user_uuid() == bitbucket.bot.uuid
    assert len(sleeps) == 2


def test_slow_response_times_out_and_is_retried(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("delay", delay_s=0.6, times=1, method="GET")
    assert client(bitbucket, sleeps, timeout_s=0.2).list_runners() == []
    assert len(sleeps) == 1


def test_slow_response_within_the_timeout_just_works(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("delay", delay_s=0.05, times=1)
    assert client(bitbucket, sleeps, timeout_s=5.0).list_runners() == []
    assert sleeps == []


def test_fault_after_n_requests_for_one_path_and_method(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("status", status=503, after=2, times=1, method="POST", path=RUNNERS)
    c = client(bitbucket, sleeps)
    c.list_runners()  # GET: not matched
    c.create_runner("a", ["self.hosted"])
    c.create_runner("b", ["self.hosted"])
    assert sleeps == []
    c.create_runner("c", ["self.hosted"])  # the third POST is hit once, then retried
    assert len(sleeps) == 1
    assert sorted(r.name for r in c.list_runners()) == ["a", "b", "c"]


def test_too_many_failures_give_one_clear_line(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("status", status=503, times=None)
    c = client(bitbucket, sleeps, max_retries=3)
    with pytest.raises(BitbucketError) as err:
        c.list_runners()
    msg = str(err.value)
    assert "\n" not in msg
    assert "503" in msg and "after 4 attempt(s)" in msg and "/pipelines-config/runners" in msg
    assert err.value.status == 503
    assert c.request_count == 4 and len(sleeps) == 3


def test_retry_after_beyond_the_time_budget_fails_fast(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("status", status=429, retry_after="600", times=None)
    c = client(bitbucket, sleeps, max_retry_time_s=120.0)
    with pytest.raises(BitbucketError, match=r"429.*retry budget of 120s exhausted"):
        c.list_runners()
    assert sleeps == [] and c.request_count == 1


def test_time_budget_counts_the_waits(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("status", status=429, retry_after="20", times=None)
    c = client(bitbucket, sleeps, max_retries=100, max_retry_time_s=50.0)
    with pytest.raises(BitbucketError, match="retry budget"):
        c.repository()
    assert sleeps == [20.0, 20.0]


def test_dropped_connections_forever_fail_clearly(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    bitbucket.add_fault("drop", times=None)
    with pytest.raises(BitbucketError, match=r"kept failing \(ConnectionError\) after 3 attempt"):
        client(bitbucket, sleeps, max_retries=2).repository()


def test_permanent_errors_are_not_retried(bitbucket: FakeBitbucket) -> None:
    sleeps = Sleeps()
    c = client(bitbucket, sleeps)
    with pytest.raises(BitbucketError, match="404"):
        c.get_pull_request(999)
    assert sleeps == [] and c.request_count == 1


def test_no_secret_in_debug_logs(bitbucket: FakeBitbucket, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sleeps = Sleeps()
    bitbucket.add_fault("status", status=503, times=1)
    c = client(bitbucket, sleeps)
    reg = c.create_runner("cml-1", ["self.hosted"])
    c.list_runners()
    c.get_runner(reg.runner.uuid)
    basic = BitbucketClient(
        Auth(email="cml-bot@example.com", api_token=DEFAULT_TOKEN), "acme", "ml-seeds", bitbucket.url, sleep=sleeps
    )
    basic.repository()
    bad = BitbucketClient(Auth(access_token="wrong-token-value"), "acme", "ml-seeds", bitbucket.url, sleep=sleeps)
    with pytest.raises(BitbucketError) as err:
        bad.list_runners()
    text = caplog.text
    assert "bitbucket -> POST" in text and "auth=bearer" in text  # the requests were logged, not their headers
    for secret in (DEFAULT_TOKEN, reg.oauth_client_secret, "wrong-token-value"):
        assert secret not in text
        assert secret not in str(err.value)
    import base64

    assert base64.b64encode(f"cml-bot@example.com:{DEFAULT_TOKEN}".encode()).decode() not in text
    assert "secret" not in repr(reg)

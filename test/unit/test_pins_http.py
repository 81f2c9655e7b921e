"""The Bitbucket transport (pipe/bitbucket/http.py) at the edges a mutation run (issue #20) probes: which
failures a POST may be sent again after, which statuses are redirects, the bounds of the retries, and what the
DEBUG log says. The session is a script of answers (no server, no waiting: sleep and clock are injected), so
each step of a retry or a redirect is seen. Each test names the mutants it kills.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests
import urllib3.exceptions

from pipe.bitbucket.auth import Auth
from pipe.bitbucket.errors import BitbucketError, UncertainWrite, UnexpectedAnswer
from pipe.bitbucket.http import Transport, never_sent

API = "https://api.bitbucket.example/2.0"
Step = requests.Response | Exception


def answer(status: int, body: Any = None, **headers: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.reason = {200: "OK", 201: "Created"}.get(status, "")
    resp._content = b"" if body is None else json.dumps(body).encode()
    resp.headers.update({"Content-Type": "application/json", **headers})
    return resp


class Script(requests.Session):
    """Answers each request with the next step (a response, or an exception raised); records what was sent."""

    def __init__(self, *steps: Step) -> None:
        super().__init__()
        self.steps = list(steps)
        self.sent: list[tuple[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append((str(method), str(url)))
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        step.url = str(url)
        step.request = requests.Request(str(method), str(url)).prepare()
        return step


class Clock:
    """A clock that moves only when told: each reading advances it by `tick`."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now = 1000.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def transport(script: Script, sleeps: list[float] | None = None, **kw: Any) -> Transport:
    sleep: Callable[[float], None] = (sleeps if sleeps is not None else []).append
    options: dict[str, Any] = {"sleep": sleep, "clock": Clock(), "rand": lambda: 0.5, "session": script} | kw
    return Transport(Auth(access_token="tok-123"), API, **options)


def connect_failure() -> requests.ConnectionError:
    """What requests raises when the TCP connection is refused: nothing reached Bitbucket."""
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


# ---- a POST is sent again only when it never left


def test_a_post_whose_connection_timed_out_before_it_was_made_is_sent_again() -> None:
    """Kills never_sent's `return True` for ConnectTimeout turned into False: the POST that never reached
    Bitbucket would end in UncertainWrite instead of being retried."""
    script = Script(requests.exceptions.ConnectTimeout("connect timed out"), answer(201, {"uuid": "{r}"}))
    assert transport(script).request("POST", "/runners", json_body={}).status_code == 201
    assert len(script.sent) == 2
    assert never_sent(requests.exceptions.ConnectTimeout()) is True


def test_a_post_whose_connection_was_refused_is_sent_again_and_a_read_timeout_is_uncertain() -> None:
    script = Script(connect_failure(), answer(201, {"uuid": "{r}"}))
    assert transport(script).request("POST", "/runners", json_body={}).status_code == 201
    with pytest.raises(UncertainWrite):
        transport(Script(requests.exceptions.ReadTimeout("read timed out"))).request("POST", "/runners")


# ---- redirects: every 3xx Bitbucket may answer, to the same origin only


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_to_the_same_origin_is_followed_for_a_get(status: int) -> None:
    """Kills any status of REDIRECT_STATUS replaced (e.g. 303 turned into a second 302): that redirect would be
    a permanent error instead of being followed."""
    script = Script(answer(status, Location=f"{API}/moved"), answer(200, {"ok": True}))
    assert transport(script).json("GET", "/old") == {"ok": True}
    assert [url for _, url in script.sent] == [f"{API}/old", f"{API}/moved"]


# ---- the DEBUG log says how long each call took


def test_the_debug_log_gives_each_answers_time(caplog: pytest.LogCaptureFixture) -> None:
    """Kills `self._clock() - t0` turned into `+` in the response's log line: the time a call took would be
    logged as about twice the clock's reading."""
    caplog.set_level(logging.DEBUG, logger="pipe.bitbucket")
    transport(Script(answer(200, {})), clock=Clock(tick=0.25)).json("GET", "/user")
    [line] = [r.getMessage() for r in caplog.records if "<-" in r.getMessage()]
    assert "GET /user 200 in 0.250s" in line, line


def test_errors_stay_one_line() -> None:
    """A guard for the helpers above: a refused foreign redirect is UnexpectedAnswer, a permanent status a
    BitbucketError."""
    with pytest.raises(UnexpectedAnswer, match=r"redirected to https://evil\.example"):
        transport(Script(answer(302, Location="https://evil.example/x"))).json("GET", "/old")
    with pytest.raises(BitbucketError):
        transport(Script(answer(418))).json("GET", "/teapot")


def test_a_post_whose_connection_dropped_after_it_was_sent_is_never_sent_again() -> None:
    """Kills never_sent's `isinstance(exc, ConnectionError) and isinstance(reason, NewConnectionError)` turned
    into `or`: a connection dropped mid-request (the POST may have landed) would count as never sent, and the
    POST be sent again: two runners, two comments."""
    dropped = requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted."))
    script = Script(dropped, answer(201, {}))
    with pytest.raises(UncertainWrite, match=r"POST /runners failed \(ConnectionError\) after the request may have"):
        transport(script).request("POST", "/runners", json_body={})
    assert len(script.sent) == 1


def test_a_rate_limited_post_is_sent_again_and_a_post_answered_5xx_is_not() -> None:
    """Kills `maybe_done = resp.status_code != 429` turned into `==`: Bitbucket refuses a rate-limited call
    before doing anything, so the POST is retried; a 503 may have come after the write, so it is not."""
    script = Script(answer(429, **{"Retry-After": "2"}), answer(201, {}))
    assert transport(script).request("POST", "/runners", json_body={}).status_code == 201
    assert len(script.sent) == 2
    script = Script(answer(503), answer(201, {}))
    with pytest.raises(UncertainWrite, match=r"failed \(503\)"):
        transport(script).request("POST", "/runners", json_body={})
    assert len(script.sent) == 1


# ---- the bounds: attempts, waits, the time budget, redirects


def test_the_waits_double_from_a_quarter_second_up_to_the_30_second_cap() -> None:
    """With rand() = 0.5 each wait is 3/4 of min(30, 0.5 * 2^(n-1)) ("equal jitter"). Kills the cap
    backoff_cap_s=30.0 moved to 31 or 29, the base or the exponent moved, and the jitter's `/`, `*`, `+`
    swapped; and `attempt > max_retries` turned into `>=` (one attempt fewer)."""
    sleeps: list[float] = []
    script = Script(*[answer(503) for _ in range(8)], answer(200, {}))
    transport(script, sleeps, max_retries=8, max_retry_time_s=1000.0).json("GET", "/user")
    assert sleeps == [0.375, 0.75, 1.5, 3.0, 6.0, 12.0, 22.5, 22.5]
    assert len(script.sent) == 9


def test_back_off_waits_as_a_retry_does() -> None:
    """back_off() is the wait between the create-and-look-up rounds of a POST whose answer was lost
    (pipe/bitbucket/api.py). Kills any number or operator of its formula changed."""
    sleeps: list[float] = []
    t = transport(Script(), sleeps)
    for attempt in (1, 2, 3, 7, 12):
        t.back_off(attempt)
    assert sleeps == [0.375, 0.75, 1.5, 22.5, 22.5]


def test_after_the_last_attempt_the_error_says_how_many_were_made() -> None:
    """Kills the message's `attempt > self.max_retries` turned into `>=` (it would blame the time budget)."""
    script = Script(*[answer(503) for _ in range(3)])
    with pytest.raises(BitbucketError, match=r"^Bitbucket API GET /user kept failing \(503\) after 3 attempt\(s\): "):
        transport(script, max_retries=2).json("GET", "/user")
    assert len(script.sent) == 3


def test_a_wait_that_exactly_fills_the_time_budget_is_waited_and_one_past_it_is_not() -> None:
    """Kills `elapsed + delay > max_retry_time_s` turned into `>=` or `elapsed - delay`."""
    sleeps: list[float] = []
    script = Script(answer(429, **{"Retry-After": "10"}), answer(200, {}))
    transport(script, sleeps, max_retry_time_s=10.0).json("GET", "/user")
    assert sleeps == [10.0]
    script = Script(answer(429, **{"Retry-After": "11"}))
    with pytest.raises(BitbucketError, match=r"retry budget of 10s exhausted \(next wait 11\.0s\)"):
        transport(script, max_retry_time_s=10.0).json("GET", "/user")


def test_the_time_budget_counts_the_clock_too() -> None:
    """Kills `max(self._clock() - start, slept)` with `-` turned into `+`, and the budget reading the waits
    only: a clock that moved 9 s during a call leaves 1 s of a 10 s budget, too little for a 2 s wait."""
    script = Script(answer(429, **{"Retry-After": "2"}))
    with pytest.raises(BitbucketError, match="retry budget of 10s exhausted"):
        transport(script, clock=Clock(tick=3.0), max_retry_time_s=10.0).json("GET", "/user")
    script = Script(answer(429, **{"Retry-After": "2"}), answer(200, {}))
    transport(script, clock=Clock(tick=1.0), max_retry_time_s=10.0).json("GET", "/user")


def test_a_redirect_does_not_use_up_an_attempt() -> None:
    """Kills `attempt -= 1` after a redirect turned into `+= 1`: with 2 retries allowed, a redirect and then two
    503s still end in the answer."""
    script = Script(answer(302, Location=f"{API}/moved"), answer(503), answer(503), answer(200, {"ok": 1}))
    assert transport(script, max_retries=2).json("GET", "/old") == {"ok": 1}
    assert len(script.sent) == 4


def test_after_a_redirect_the_attempts_and_waits_are_those_of_a_call_without_one() -> None:
    """Kills `attempt -= 1` after a redirect turned into `-= 2` (a redirect giving one more retry, and a
    first wait of half the base)."""
    sleeps: list[float] = []
    script = Script(answer(302, Location=f"{API}/moved"), *[answer(503) for _ in range(3)], answer(200, {}))
    with pytest.raises(BitbucketError, match=r"kept failing \(503\) after 3 attempt\(s\)"):
        transport(script, sleeps, max_retries=2).json("GET", "/old")
    assert sleeps == [0.375, 0.75]
    assert len(script.sent) == 4


def test_five_redirects_are_followed_and_a_sixth_is_refused() -> None:
    """Kills MAX_REDIRECTS moved to 4 or 6, `done >= MAX_REDIRECTS` turned into `>`, `redirects += 1` into
    `-=` (a redirect loop followed for ever) and the `or` of the check into `and`."""
    hops = [answer(302, Location=f"{API}/hop{i}") for i in range(5)]
    assert transport(Script(*hops, answer(200, {"ok": 1}))).json("GET", "/start") == {"ok": 1}
    hops = [answer(302, Location=f"{API}/hop{i}") for i in range(6)]
    with pytest.raises(BitbucketError, match=r"answered an unexpected redirect \(302\)"):
        transport(Script(*hops, answer(200, {}))).json("GET", "/start")


def test_a_post_is_never_redirected() -> None:
    """Kills `method.upper() not in ("GET", "HEAD")` turned into `in`: a POST would be replayed to the
    Location (as a GET by requests' rules, or with its body), which Bitbucket never asks for."""
    script = Script(answer(307, Location=f"{API}/moved"), answer(201, {}))
    with pytest.raises(BitbucketError, match=r"POST /runners answered an unexpected redirect \(307\)"):
        transport(script).request("POST", "/runners", json_body={})
    assert len(script.sent) == 1


# ---- the one origin check


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/2.0/runners?page=2",  # another host
        "//evil.example/2.0/runners",  # scheme-relative
        "http://api.bitbucket.example/2.0/runners",  # another scheme
        "https://api.bitbucket.example:8443/2.0/runners",  # another port
        "https://user@api.bitbucket.example/2.0/runners",  # user info: not a plain origin
    ],
)
def test_a_link_to_any_other_origin_is_refused_before_anything_is_sent(link: str) -> None:
    """Kills the absolute-URL test `path.startswith("//") or re.match(...)` turned into `and` (an absolute
    link would be glued onto the API URL), and `origin(path) is None or origin(path) != ...` turned into
    `and` (a link with user info would be followed, with the token)."""
    script = Script(answer(200, {}))
    with pytest.raises(UnexpectedAnswer, match="refused, the token is sent only to the API's own host"):
        transport(script).request("GET", link)
    assert script.sent == []


def test_a_link_on_the_apis_own_origin_is_used_as_it_is() -> None:
    script = Script(answer(200, {"values": []}))
    link = "https://API.bitbucket.example:443/2.0/runners?page=2"
    assert transport(script).json("GET", link) == {"values": []}
    assert script.sent == [("GET", link)]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_every_success_status_is_an_answer_by_default(status: int) -> None:
    """Kills any status of the default `ok=(200, 201, 202, 204)` replaced (e.g. 204 by 205, or 202 by a second
    201): a DELETE answered 204 No Content, or a call answered 202 Accepted, would be an error."""
    script = Script(answer(status))
    assert transport(script).request("DELETE", "/runners/{r}").status_code == status
    assert len(script.sent) == 1


def test_the_debug_log_gives_the_time_a_failed_call_took(caplog: pytest.LogCaptureFixture) -> None:
    """Kills `self._clock() - t0` turned into `+` in the log line of a call that raised (a dropped connection)."""
    caplog.set_level(logging.DEBUG, logger="pipe.bitbucket")
    dropped = requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted."))
    transport(Script(dropped, answer(200, {})), clock=Clock(tick=0.25)).json("GET", "/user")
    [line] = [r.getMessage() for r in caplog.records if "ConnectionError after" in r.getMessage()]
    assert line == "bitbucket GET /user -> ConnectionError after 0.250s", line


def test_the_error_after_the_retries_gives_the_status_and_its_reason() -> None:
    """Kills `resp.reason or ''` turned into `and`: the line would say "(503)" without "Service Unavailable"."""
    unavailable = [answer(503) for _ in range(2)]
    for resp in unavailable:
        resp.reason = "Service Unavailable"
    with pytest.raises(BitbucketError, match=r"kept failing \(503 Service Unavailable\) after 2 attempt\(s\)"):
        transport(Script(*unavailable), max_retries=1).json("GET", "/user")


def test_the_time_budget_adds_up_every_wait_from_zero() -> None:
    """Kills `slept = 0.0` turned into -1.0: with the clock standing still, waits of 4 s and then 7 s do not fit
    a 10 s budget (the second is refused), and 4 s then 6 s do."""
    waits = [answer(429, **{"Retry-After": "4"}), answer(429, **{"Retry-After": "7"})]
    with pytest.raises(BitbucketError, match=r"retry budget of 10s exhausted \(next wait 7\.0s\)"):
        transport(Script(*waits), max_retry_time_s=10.0).json("GET", "/user")
    sleeps: list[float] = []
    waits = [answer(429, **{"Retry-After": "4"}), answer(429, **{"Retry-After": "6"}), answer(200, {})]
    transport(Script(*waits), sleeps, max_retry_time_s=10.0).json("GET", "/user")
    assert sleeps == [4.0, 6.0]


def test_when_the_budget_ends_on_the_last_allowed_attempt_the_error_blames_the_budget() -> None:
    """Kills the message's `attempt > self.max_retries` turned into `>=`: on attempt 1 of 1 retry allowed, a
    wait past the budget is the reason, not the number of attempts."""
    script = Script(answer(429, **{"Retry-After": "11"}))
    with pytest.raises(BitbucketError, match=r"kept failing \(429\) retry budget of 10s exhausted \(next wait 11"):
        transport(script, max_retries=1, max_retry_time_s=10.0).json("GET", "/user")


def test_an_answer_that_is_not_json_is_one_line_naming_the_call() -> None:
    """Kills `resp.request.method if resp.request else ''` negated in answer(): the line would name "/user"
    without its method."""
    page = answer(200)
    page._content = b"<html>maintenance</html>"
    page.headers["Content-Type"] = "text/html"
    with pytest.raises(UnexpectedAnswer, match=r"GET /user"):
        transport(Script(page)).json("GET", "/user")

"""Waiting for the runner to come ONLINE, telling the user how long it has taken at a steady cadence."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipe.bitbucket.models import Runner

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 15.0
# The runner's status is polled every 4.5 s, so ONLINE is noticed within 5 s, but
# on average at most once per 5 s with a burst of 3: a launch stays within its
# budget of 6 API calls plus 1 per 5 s of waiting however long the boot takes
# (the fast cadence lasts ~135 s, longer than a typical boot).
POLL_EVERY_S = 4.5
AVERAGE_EVERY_S = 5.0
BURST = 3


class WaitTimeout(Exception):
    pass


class RunnerVanished(Exception):
    pass


@dataclass
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def wait_online(
    get_runner: Callable[[str], Runner | None],
    runner: Runner,
    *,
    timeout_s: float,
    what: str,
    clock: Clock | None = None,
    poll_every_s: float = POLL_EVERY_S,
    average_every_s: float = AVERAGE_EVERY_S,
) -> Runner:
    """Poll until the runner is ONLINE; raise WaitTimeout or RunnerVanished."""
    clock = clock or Clock()
    start = clock.now()
    next_progress = start + PROGRESS_EVERY_S
    status = runner.status
    polls = 0
    while True:
        current = get_runner(runner.uuid)
        polls += 1
        if current is None:
            raise RunnerVanished(f"runner {runner.name} was deleted while waiting for it to come ONLINE")
        status = current.status
        if status == "ONLINE":
            log.info("Runner %s is ONLINE after %s.", runner.name, format_duration(clock.now() - start))
            return current
        elapsed = clock.now() - start
        if elapsed >= timeout_s:
            raise WaitTimeout(
                f"runner {runner.name} did not come ONLINE within {format_duration(timeout_s)} "
                f"(last status {status}); the instance's console log shows each boot step; "
                "raise WAIT_TIMEOUT if it was still booting"
            )
        if clock.now() >= next_progress:
            log.info(
                "Waiting for runner %s to come ONLINE (%s): %s elapsed, status %s, timeout in %s.",
                runner.name,
                what,
                format_duration(elapsed),
                status,
                format_duration(timeout_s - elapsed),
            )
            next_progress += PROGRESS_EVERY_S
        # The next poll: after poll_every_s, and no sooner than the average budget allows.
        allowed_at = start + (polls + 1 - BURST) * average_every_s
        wait_s = max(poll_every_s, allowed_at - clock.now())
        clock.sleep(min(wait_s, max(0.0, timeout_s - elapsed)))

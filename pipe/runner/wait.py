"""Waiting for the runner to come ONLINE, telling the user how long it has taken at a steady cadence."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipe.bitbucket.models import Runner

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 15.0
# One status request per 5 s: fast enough to notice ONLINE within ~5 s, and the
# launch stays within ~1 API call per 5 s of waiting.
POLL_EVERY_S = 5.0


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
) -> Runner:
    """Poll until the runner is ONLINE; raise WaitTimeout or RunnerVanished."""
    clock = clock or Clock()
    start = clock.now()
    next_progress = start + PROGRESS_EVERY_S
    status = runner.status
    while True:
        current = get_runner(runner.uuid)
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
        clock.sleep(min(poll_every_s, max(0.0, timeout_s - elapsed)))

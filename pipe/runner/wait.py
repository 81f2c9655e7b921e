"""Waiting for the runner to come ONLINE, telling the user how long it has taken at a steady cadence."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pipe.bitbucket.models import Runner
from pipe.progress import Progress, format_duration

log = logging.getLogger(__name__)

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


def wait_online(
    get_runner: Callable[[str], Runner | None],
    runner: Runner,
    *,
    timeout_s: float,
    what: str,
    clock: Clock | None = None,
    poll_every_s: float = POLL_EVERY_S,
    average_every_s: float = AVERAGE_EVERY_S,
    watch: Callable[[], str | None] | None = None,
) -> Runner:
    """Poll until the runner is ONLINE; raise WaitTimeout or RunnerVanished.

    watch, when given, is asked after every poll that did not find the runner ONLINE: it reports the
    workload's own trouble (and raises when the workload can never come up); the last line it returned is
    quoted if the wait times out."""
    clock = clock or Clock()
    start = clock.now()
    progress = Progress(f"runner {runner.name} to come ONLINE ({what})", now=clock.now, logger=log)
    status = runner.status
    polls = 0
    trouble: str | None = None
    while True:
        current = get_runner(runner.uuid)
        polls += 1
        if current is None:
            raise RunnerVanished(f"runner {runner.name} was deleted while waiting for it to come ONLINE")
        status = current.status
        if status == "ONLINE":
            log.info("Runner %s is ONLINE after %s.", runner.name, format_duration(clock.now() - start))
            return current
        if watch is not None:
            trouble = watch() or trouble
        elapsed = clock.now() - start
        if elapsed >= timeout_s:
            hint = (
                f"last trouble: {trouble}"
                if trouble
                else "the instance's console log shows each boot step; raise WAIT_TIMEOUT if it was still booting"
            )
            raise WaitTimeout(
                f"runner {runner.name} did not come ONLINE within {format_duration(timeout_s)} "
                f"(last status {status}); {hint}"
            )
        progress.tick(f"status {status}, timeout in {format_duration(timeout_s - elapsed)}")
        # The next poll: after poll_every_s, and no sooner than the average budget allows.
        allowed_at = start + (polls + 1 - BURST) * average_every_s
        wait_s = max(poll_every_s, allowed_at - clock.now())
        clock.sleep(min(wait_s, max(0.0, timeout_s - elapsed)))

"""Telling the user what a long wait is for and how long it has taken, at a steady cadence.

Every wait (runner ONLINE, a cloud operation) reports through one Progress, so
the log gets one line per ~15 s whatever the poll interval, never one per poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

PROGRESS_EVERY_S = 15.0

log = logging.getLogger("cml-runner")


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    def __init__(
        self,
        what: str,
        *,
        every_s: float = PROGRESS_EVERY_S,
        now: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.what = what
        self.every_s = every_s
        self._now = now
        self._log = logger or log
        self.started = now()
        self._next = self.started + every_s

    @property
    def elapsed_s(self) -> float:
        return self._now() - self.started

    def tick(self, detail: str = "") -> None:
        """Log a progress line if one is due; cheap to call on every poll."""
        if self._now() < self._next:
            return
        suffix = f", {detail}" if detail else ""
        self._log.info("Waiting for %s: %s elapsed%s.", self.what, format_duration(self.elapsed_s), suffix)
        while self._next <= self._now():
            self._next += self.every_s

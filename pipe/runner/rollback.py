"""Undoing what a failed launch created, also when the pipe is stopped by SIGTERM or SIGINT.

Bitbucket stops a step with SIGTERM; the contract is that the pipe exits 1
only after the rollback has finished, so signals raise Interrupted while the
launch runs and are ignored while the rollback itself runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)


class Interrupted(BaseException):
    """The pipe received SIGTERM or SIGINT. A BaseException so generic handlers do not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class Rollback:
    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], None]]] = []

    @property
    def size(self) -> int:
        return len(self._steps)

    def add(self, description: str, undo: Callable[[], None]) -> None:
        self._steps.append((description, undo))

    def run(self) -> list[str]:
        """Undo in reverse order; every step is tried. Returns the steps that failed."""
        failed: list[str] = []
        with _signals_ignored():
            for description, undo in reversed(self._steps):
                log.info("Rolling back: %s", description)
                try:
                    undo()
                except Exception as error:  # noqa: BLE001 - every step must be tried; each failure is reported
                    log.error("Rollback step failed (%s): %s", description, str(error).splitlines()[0])
                    failed.append(description)
        self._steps.clear()
        return failed


@contextmanager
def signals_raise() -> Iterator[None]:
    """SIGTERM/SIGINT raise Interrupted in the main thread while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

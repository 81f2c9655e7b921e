"""The rollback and the signals (pipe/runner/rollback.py), where a mutation run (issue #20) found gaps.

Bitbucket stops a step with SIGTERM, and may send it again: the contract is that the pipe exits only
after the rollback has finished. So a signal during the launch interrupts it, a signal during the
rollback does not, and both leave the process's handlers as they found them.
"""

from __future__ import annotations

import logging
import os
import signal

import pytest

from pipe.runner.rollback import Interrupted, Rollback, signals_raise


def test_a_sigterm_during_the_rollback_does_not_cut_it_short() -> None:
    """Kills `_signals_ignored` not ignoring in the main thread (`is not` turned into `is`, or negated):
    the second SIGTERM would raise Interrupted out of the rollback and leave the instance running."""
    done: list[str] = []
    rollback = Rollback()
    rollback.add("delete runner", lambda: done.append("runner"))
    rollback.add("terminate instance", lambda: (os.kill(os.getpid(), signal.SIGTERM), done.append("instance")))
    with pytest.raises(Interrupted, match="SIGTERM"), signals_raise():
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # the first stop: interrupts the launch
        except Interrupted:
            assert rollback.run() == []  # the second stop arrives while rolling back
            raise
    assert done == ["instance", "runner"]


def test_the_handlers_are_given_back_after_the_launch_and_after_the_rollback() -> None:
    """Kills the restoring loops of signals_raise and _signals_ignored skipped (`for ... in []`): a later
    SIGTERM would raise Interrupted outside any launch, or be ignored for the rest of the process."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    with signals_raise():
        assert signal.getsignal(signal.SIGTERM) not in (before[signal.SIGTERM], signal.SIG_IGN)
    assert {sig: signal.getsignal(sig) for sig in before} == before
    rollback = Rollback()
    seen: list[object] = []
    rollback.add("look", lambda: seen.append(signal.getsignal(signal.SIGTERM)))
    assert rollback.run() == []
    assert seen == [signal.SIG_IGN]
    assert {sig: signal.getsignal(sig) for sig in before} == before
    assert rollback.size == 0


def test_every_failed_step_is_reported_by_its_description_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Kills the failure not recorded (`failed.append` skipped), the loop stopped at the first failure, and
    the log line showing the error's last line instead of its first (`splitlines()[-1]`)."""
    ran: list[str] = []

    def fail(what: str) -> None:
        ran.append(what)
        raise RuntimeError(f"{what} refused\nsecond line")

    rollback = Rollback()
    rollback.add("first", lambda: fail("first"))
    rollback.add("second", lambda: ran.append("second"))
    rollback.add("third", lambda: fail("third"))
    with caplog.at_level(logging.INFO, logger="pipe.runner.rollback"):
        assert rollback.run() == ["third", "first"]
    assert ran == ["third", "second", "first"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["Rollback step failed (third): third refused", "Rollback step failed (first): first refused"]

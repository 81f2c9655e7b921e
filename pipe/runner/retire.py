"""Deleting one stale runner of ours without racing Bitbucket: the listing it was picked from may be
minutes old, so the runner is re-read (status and step) right before anything is changed, disabled so
no step is given to it meanwhile, checked again in Bitbucket's answer to the disable, and only then
deleted. Any failure after the disable (a 429 storm included) re-enables it: a runner is never left
DISABLED by a sweep that did not delete it. Atlassian's runners-autoscaler fixed the same race by
disabling before deleting.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.errors import BitbucketError
from pipe.bitbucket.models import Runner
from pipe.runner.leftovers import in_use
from pipe.runner.rollback import Rollback

# Calls one retirement takes: re-read, disable, delete. A re-enable after a failure is not budgeted:
# it happens whatever the budget says.
RETIRE_CALLS = 3
# A re-enable that fails is tried this many times (each with the client's own retries and Retry-After).
RE_ENABLE_ATTEMPTS = 3


class RetireError(BitbucketError):
    """A runner this sweep disabled could not be re-enabled; str() names it and the fix."""


@dataclass(frozen=True)
class Retired:
    deleted: bool
    reason: str  # why it was kept or gone, for the log


def retire(client: BitbucketClient, runner: Runner, *, log: logging.Logger, dry_run: bool = False) -> Retired:
    """Delete ``runner`` (of the client's scope) unless it is in use at that moment.

    Raises BitbucketError when Bitbucket fails before the disable (nothing changed), or after it once
    the runner is enabled again; RetireError when even that failed.
    """
    fresh = client.get_runner(runner.uuid)
    if fresh is None:
        return Retired(False, "already gone")
    busy = in_use(fresh)
    if busy:
        return Retired(False, busy)
    if dry_run:
        return Retired(False, "DRY_RUN")
    undo = Rollback()
    if fresh.status != "DISABLED":  # disabled by someone else: leave it as they want it if we keep it
        # Registered first: a stop while the disable is on the wire must not leave it disabled either.
        undo.add(f"re-enable runner {runner.name}", lambda: _re_enable(client, runner, log))
        try:
            answer = client.set_runner_state(runner.uuid, "DISABLED")
        except BitbucketError as problem:
            if _refused_before_landing(problem):  # e.g. 403 without write:runner: nothing to enable again
                raise
            _undo(undo, runner)
            raise
        except BaseException:
            _undo(undo, runner)
            raise
        if answer is None:
            return Retired(False, "already gone")
        # The status now reads DISABLED whatever the connection; the step is what can still change.
        if answer.busy:
            _undo(undo, runner)
            return Retired(False, "it picked up a step meanwhile")
    try:
        client.delete_runner(runner.uuid)
    except BaseException:
        _undo(undo, runner)
        raise
    return Retired(True, "deleted")


def _refused_before_landing(problem: BitbucketError) -> bool:
    """Bitbucket answered the disable with a 4xx: it refused it, so the runner's state did not change. A 5xx, a
    timeout or a dropped connection (no status) may have landed, and the re-enable runs."""
    return problem.status is not None and 400 <= problem.status < 500


def _undo(undo: Rollback, runner: Runner) -> None:
    if undo.run():
        raise RetireError(
            f"runner {runner.name} ({runner.uuid}) was disabled by the sweep and could not be enabled again: "
            "enable it under Repository settings > Runners"
        )


def _re_enable(client: BitbucketClient, runner: Runner, log: logging.Logger) -> None:
    for attempt in range(1, RE_ENABLE_ATTEMPTS + 1):
        try:
            client.set_runner_state(runner.uuid, "ENABLED")
            return
        except BitbucketError as problem:
            if attempt == RE_ENABLE_ATTEMPTS:
                raise
            log.warning("Re-enabling runner %s failed (%s); trying again.", runner.name, str(problem).splitlines()[0])

"""The sweep's engine: decide on each instance and stale runner (leftovers.py, plain data), look runners up,
terminate and retire, all within a Budget of Bitbucket calls and the Limits of its caller (sweep.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.errors import BitbucketError
from pipe.bitbucket.models import Runner, RunnerScope
from pipe.providers.base import Instance, Provider, ProviderError
from pipe.runner import leftovers
from pipe.runner.errors import SweepFailure
from pipe.runner.leftovers import Listing
from pipe.runner.retire import RETIRE_CALLS, RetireError, retire

TERMINATE_BATCH = 50


@dataclass
class Budget:
    """The Bitbucket calls a sweep may spend, and whether Bitbucket asked it to stop."""

    client: BitbucketClient
    calls: int
    share: float = 0.0  # when set: at most this share of X-RateLimit-Limit, once Bitbucket sends it
    start: int = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.client.request_count

    @property
    def spent(self) -> int:
        return self.client.request_count - self.start

    @property
    def limit(self) -> int:
        announced = self.client.rate_limit.limit
        return int(announced * self.share) if self.share and announced else self.calls

    def stop_reason(self, cost: int = 1) -> str:
        """Why the next step (costing up to ``cost`` calls) must not start; "" when it may."""
        rate = self.client.rate_limit
        if rate.throttled:
            return "Bitbucket answered 429 (rate limit exceeded)"
        if rate.near_limit:
            return "Bitbucket says the hourly rate limit is nearly used (X-RateLimit-NearLimit)"
        if self.spent + cost > self.limit:
            return f"its budget of {self.limit} Bitbucket calls is spent"
        return ""


@dataclass
class Outcome:
    """What a sweep did and what it left."""

    terminated: list[tuple[Instance, str]] = field(default_factory=list)
    deleted: list[Runner] = field(default_factory=list)
    instances_left: int = 0  # instances not decided on or not terminated yet (budget or limit)
    runners_left: int = 0  # stale runners not deleted (budget or limit)
    legacy_left: list[Instance] = field(default_factory=list)  # old tag, not provably this repository's
    stopped: str = ""  # why it stopped before the end
    problems: list[str] = field(default_factory=list)

    @property
    def left(self) -> str:
        parts = []
        if self.instances_left:
            parts.append(f"{self.instances_left} instance(s) not checked or not terminated yet")
        if self.runners_left:
            parts.append(f"{self.runners_left} stale runner(s) not deleted yet")
        return ", ".join(parts)


@dataclass(frozen=True)
class Limits:
    terminations: int | None = None  # None: no limit
    runner_deletions: int | None = None


class Sweeper:
    def __init__(
        self,
        client: BitbucketClient,
        provider: Provider,
        budget: Budget,
        *,
        log: logging.Logger,
        limits: Limits = Limits(),
        dry_run: bool = False,
        wait: bool = True,
        now: int | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.budget = budget
        self.log = log
        self.limits = limits
        self.dry_run = dry_run
        self.wait = wait  # for the cloud to finish each termination (a launch does not)
        self.now = int(time.time()) if now is None else now
        self.outcome = Outcome()

    def run(self, instances: Sequence[Instance], listing: Listing | None) -> Outcome:
        """Decide on every instance (legacy ones among them only if proven ours), terminate, delete runners."""
        sorted_out = leftovers.triage(instances, listing, self.now)
        going = list(sorted_out.terminate)
        cap = self.limits.terminations
        if cap is not None and len(going) > cap:
            self.outcome.instances_left += len(going) - cap
            going = going[:cap]
        going += self._look_up(sorted_out.look_up, len(going))
        going += self._look_up([(i, "repository") for i in sorted_out.legacy], len(going), legacy=True)
        self._terminate(going)
        if listing is not None:
            # Every instance that stays keeps its runner; in a dry run, as if the terminations had happened.
            leaving = going if self.dry_run else self.outcome.terminated
            protected = leftovers.protected_runners(instances, (instance for instance, _ in leaving))
            self._retire(leftovers.stale_runners(listing.runners, protected, self.now))
        return self.outcome

    # --- instances
    def _room(self, taken: int) -> bool:
        return self.limits.terminations is None or taken < self.limits.terminations

    def _look_up(
        self, candidates: list[tuple[Instance, str]], taken: int, *, legacy: bool = False
    ) -> list[tuple[Instance, str]]:
        """Look each instance's runner up by UUID in ``scope``; the instances that go, with why.

        ``legacy``: instances with the old lossy repository tag, looked up in this repository's own scope:
        a runner found there proves one is this repository's; otherwise it may be another repository's,
        and it is left alone."""
        going: list[tuple[Instance, str]] = []
        for index, (instance, scope) in enumerate(candidates):
            stop = self.budget.stop_reason()
            if stop or not self._room(taken + len(going)):
                self._stop(stop)
                self.outcome.instances_left += len(candidates) - index
                break
            try:
                runner = self.client.get_runner(_braced(instance.runner_uuid), _scope(scope))
            except BitbucketError as problem:
                fail_if_refused(problem)
                self._stop(self.budget.stop_reason() or f"looking up a runner failed: {first_line(problem)}")
                self.outcome.instances_left += len(candidates) - index
                break
            if legacy and runner is None:
                self.outcome.legacy_left.append(instance)
                continue
            reason = leftovers.verdict_after_lookup(instance, runner, scope, self.now)
            if reason:
                going.append((instance, reason))
        return going

    def _terminate(self, going: list[tuple[Instance, str]]) -> None:
        for instance, reason in going:
            self.log.info("Sweep: terminating instance %s (%s)%s", instance.id, reason, _dry(self.dry_run))
        if self.dry_run:
            return
        for start in range(0, len(going), TERMINATE_BATCH):
            batch = going[start : start + TERMINATE_BATCH]
            try:
                self.provider.terminate_many([instance for instance, _ in batch], wait=self.wait)
            except ProviderError as problem:
                self.outcome.problems.append(f"terminating {len(batch)} instance(s) failed: {problem}")
                continue
            self.outcome.terminated += batch

    # --- runners
    def _retire(self, stale: list[tuple[Runner, str]]) -> None:
        allowed = self.limits.runner_deletions
        for index, (runner, reason) in enumerate(stale):
            stop = self.budget.stop_reason(RETIRE_CALLS)
            if stop or (allowed is not None and index >= allowed):
                self._stop(stop)
                self.outcome.runners_left += len(stale) - index
                return
            self.log.info("Sweep: deleting runner %s (%s)%s", runner.name, reason, _dry(self.dry_run))
            try:
                done = retire(self.client, runner, log=self.log, dry_run=self.dry_run)
            except RetireError:
                raise  # a runner left DISABLED: the user must hear of it
            except BitbucketError as problem:
                fail_if_refused(problem)
                self._stop(self.budget.stop_reason() or f"deleting runner {runner.name} failed: {first_line(problem)}")
                self.outcome.runners_left += len(stale) - index
                return
            if done.deleted:
                self.outcome.deleted.append(runner)
            elif not self.dry_run:
                self.log.info("Sweep: kept runner %s: %s.", runner.name, done.reason)

    def _stop(self, reason: str) -> None:
        if reason and not self.outcome.stopped:
            self.outcome.stopped = reason


def fail_if_refused(problem: BitbucketError) -> None:
    """Bitbucket refused the token (401) or a scope it lacks (403): the next run would be refused too, so the
    sweep fails and says what to fix instead of "stopping early"."""
    if problem.status in (401, 403):
        raise SweepFailure(f"Sweep failed: {first_line(problem)}") from None


def first_line(problem: Exception) -> str:
    return str(problem).splitlines()[0] if str(problem) else type(problem).__name__


def _braced(tag: str) -> str:
    """A runner tag (UUID without braces) as Bitbucket writes the UUID in paths."""
    return "{" + tag.strip("{}") + "}"


def _scope(scope: str) -> RunnerScope:
    return "workspace" if scope == "workspace" else "repository"


def _dry(dry_run: bool) -> str:
    return " [DRY_RUN]" if dry_run else ""

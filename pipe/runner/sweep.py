"""The sweep: remove what runner mode left behind, within a budget of Bitbucket calls.

Two callers, one engine (sweeper.py):
- every launch runs a bounded sweep (``at_launch``): a fixed number of lookups, terminations and
  runner deletions, whatever the number of runners and instances, so a launch costs the same in a
  busy repository as in an empty one; its problems are warnings, never a reason not to launch;
- ``COMMAND: sweep`` (``sweep``, on a schedule) looks at everything, stopping cleanly before Bitbucket's
  rate limit runs out and saying what it did and what it left.

What may be removed is decided in ``leftovers`` (plain data); runners are deleted by ``retire``.
"""

from __future__ import annotations

import logging

from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.errors import BitbucketError
from pipe.bitbucket.models import Runner
from pipe.providers.base import Provider, ProviderError
from pipe.runner.errors import RunnerFailure, SweepFailure
from pipe.runner.leftovers import Listing
from pipe.runner.rollback import Interrupted, signals_raise
from pipe.runner.sweeper import Budget, Limits, Outcome, Sweeper, fail_if_refused, first_line

# At launch: Bitbucket calls the sweep may spend (lookups, or one runner deletion), instances it may
# terminate and runners it may delete. Anything more is left to COMMAND: sweep.
LAUNCH_CALLS = 3
# A launch that read every page of the listing (REUSE, REUSE_IDLE, NAME) and provisions may look up one
# runner: such a launch stays within 1 + ceil(N/100) + 4 calls for N runners.
LAUNCH_CALLS_AFTER_LISTING = 1
LAUNCH_TERMINATIONS = 2
LAUNCH_RUNNER_DELETIONS = 1
# COMMAND: sweep leaves most of the hour's budget to launches: this share of X-RateLimit-Limit, or of
# Bitbucket's base limit of 1,000 requests per hour while the header has not been seen.
SWEEP_SHARE = 0.3
BASE_HOURLY_LIMIT = 1000


def at_launch(
    client: BitbucketClient,
    provider: Provider,
    repo_tag: str,
    listing: Listing | None,
    *,
    read_whole_listing: bool,
    log: logging.Logger,
) -> None:
    """Leftovers must not block a launch, nor make it cost more in a busy repository: a bounded sweep, in cloud
    calls that do not grow either (the instance listing skips per-instance reads). A launch that read the whole
    listing already (REUSE, REUSE_IDLE, NAME) has spent most of its calls."""
    calls = LAUNCH_CALLS_AFTER_LISTING if read_whole_listing else LAUNCH_CALLS
    limits = Limits(terminations=LAUNCH_TERMINATIONS, runner_deletions=LAUNCH_RUNNER_DELETIONS)
    with signals_raise():
        try:
            instances = provider.list_ours(repo_tag, with_state=False)
            sweeper = Sweeper(client, provider, Budget(client, calls), log=log, limits=limits, wait=False)
            outcome = sweeper.run(instances, listing)
        except (ProviderError, BitbucketError) as problem:
            log.warning("Sweep skipped: %s", str(problem).splitlines()[0])
            return
        except Interrupted as stop:
            raise RunnerFailure(f"{stop} during the sweep; nothing was launched") from None
    for trouble in outcome.problems:
        log.warning("Sweep: %s", trouble)
    if outcome.left or outcome.stopped:
        log.info("Sweep at launch left some for COMMAND: sweep (%s).", outcome.left or outcome.stopped)


def sweep(
    client: BitbucketClient, provider: Provider, repo_tags: tuple[str, str], *, dry_run: bool, log: logging.Logger
) -> tuple[Outcome, int]:
    """COMMAND: sweep, within SWEEP_SHARE of the hour's calls: (what it did and left, the calls it spent).

    repo_tags: this repository's tag, and the old lossy one (instances tagged before the UUID tag are only
    candidates, proven ours, or left alone, one by one)."""
    budget = Budget(client, int(BASE_HOURLY_LIMIT * SWEEP_SHARE), share=SWEEP_SHARE)
    with signals_raise():
        try:
            listing, stopped = read_listing(client, budget)
            instances = [instance for tag in repo_tags for instance in provider.list_ours(tag)]
            sweeper = Sweeper(client, provider, budget, log=log, dry_run=dry_run)
            if stopped:
                sweeper.outcome.stopped = stopped
            outcome = sweeper.run(instances, listing)
        except Interrupted as stop:
            raise SweepFailure(f"sweep {stop}; whatever it had disabled was enabled again") from None
    return outcome, budget.spent


def read_listing(client: BitbucketClient, budget: Budget) -> tuple[Listing, str]:
    """Every page of the client's scope while the budget allows; (listing, why it stopped early or "")."""
    runners: list[Runner] = []
    more = True
    try:
        for page, more in client.runner_pages():
            runners.extend(page)
            stop = budget.stop_reason() if more else ""
            if stop:
                return Listing(client.runner_scope, tuple(runners), complete=False), stop
    except BitbucketError as problem:
        fail_if_refused(problem)  # a token without read:runner: no later run does better
        why = budget.stop_reason() or f"listing the runners failed: {first_line(problem)}"
        return Listing(client.runner_scope, tuple(runners), complete=False), why
    return Listing(client.runner_scope, tuple(runners), complete=not more), ""

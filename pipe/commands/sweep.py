"""COMMAND: sweep: remove what runner mode left behind, everything within budget; run it on a schedule.

Terminates this repository's instances that are past their expires-at, orphaned (their runner
confirmed gone, looked up in the scope it was registered in) or powered off, and deletes our runners
that are down with no instance. It pages the runner listing with the largest page, terminates
instances in batches, and stops before Bitbucket's rate limit runs out (a 429, X-RateLimit-NearLimit,
or its own share of the hour's calls), saying what it did and what it left for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pipe.commands.clients import bitbucket_client, repository_uuid
from pipe.config.common import CommonSettings
from pipe.config.runner import RunnerSettings
from pipe.providers import make_provider
from pipe.providers.catalog import resolve_location
from pipe.providers.tags import legacy_repository_tag, repository_tag
from pipe.runner.rollback import Interrupted, signals_raise
from pipe.runner.sweep import BASE_HOURLY_LIMIT, SWEEP_SHARE, Budget, Outcome, Sweeper, read_listing


class SweepFailure(Exception):
    """The sweep could not do what it decided; str() is the one line shown."""


def run(common: CommonSettings, settings: RunnerSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    client = bitbucket_client(common, settings.runner_scope)
    region = resolve_location(settings.cloud, settings.region).region
    provider = make_provider(settings.cloud, region, env, kubernetes=settings.kubernetes)
    budget = Budget(client, int(BASE_HOURLY_LIMIT * SWEEP_SHARE), share=SWEEP_SHARE)
    with signals_raise():
        try:
            tag = repository_tag(repository_uuid(common, client))
            listing, stopped = read_listing(client, budget)
            instances = provider.list_ours(tag)
            # Instances tagged before the UUID tag: candidates only, proven ours (or left) one by one.
            instances += provider.list_ours(legacy_repository_tag(common.workspace, common.repo_slug))
            sweeper = Sweeper(client, provider, budget, log=log, dry_run=common.dry_run)
            if stopped:
                sweeper.outcome.stopped = stopped
            outcome = sweeper.run(instances, listing)
        except Interrupted as stop:
            raise SweepFailure(f"sweep {stop}; whatever it had disabled was enabled again") from None
    return _summary(outcome, log, budget.spent)


def _summary(outcome: Outcome, log: logging.Logger, calls: int) -> str:
    for instance in outcome.legacy_left:
        log.warning(
            "Instance %s has the old repository tag and its runner is not in this repository: it may be another "
            "repository's, so it was left alone (terminate it by hand if it is this repository's).",
            instance.id,
        )
    done = f"{len(outcome.terminated)} instance(s) terminated, {len(outcome.deleted)} runner(s) deleted"
    if outcome.problems:
        raise SweepFailure(f"Sweep incomplete: {done}; {'; '.join(outcome.problems)}")
    if outcome.stopped:
        left = outcome.left or "nothing known"
        log.warning("Sweep stopped early: %s. Left for the next run: %s.", outcome.stopped, left)
        return f"Sweep stopped early ({outcome.stopped}): {done}; left for the next run: {left}"
    return f"Sweep finished: {done} ({calls} Bitbucket calls)"

"""COMMAND: sweep: remove what runner mode left behind, everything within budget; run it on a schedule.

The story: build the Bitbucket and cloud clients, then the sweep (pipe/runner/sweep.py): terminate this
repository's instances that are past their expires-at, orphaned (their runner confirmed gone, looked up in the
scope it was registered in) or powered off, and delete our runners that are down with no instance. It pages the
runner listing with the largest page, terminates instances in batches, and stops before Bitbucket's rate limit
runs out (a 429, X-RateLimit-NearLimit, or its own share of the hour's calls), saying what it did and what it
left for the next run. Then our baked images (COMMAND: bake) older than the newest two per recipe go, with their
snapshots (pipe/bake/stale.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pipe.bake.stale import ImageSweep, sweep_images
from pipe.commands.clients import bitbucket_client, cloud_provider, repository_uuid
from pipe.config.common import CommonSettings
from pipe.config.runner import RunnerSettings
from pipe.providers.base import MakesImages
from pipe.providers.tags import legacy_repository_tag, repository_tag
from pipe.runner.errors import SweepFailure
from pipe.runner.sweep import sweep
from pipe.runner.sweeper import Outcome


def run(common: CommonSettings, settings: RunnerSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    client = bitbucket_client(common, settings.runner_scope)
    provider = cloud_provider(common, settings, env)
    tags = (repository_tag(repository_uuid(common, client)), legacy_repository_tag(common.workspace, common.repo_slug))
    outcome, calls = sweep(client, provider, tags, dry_run=common.dry_run, log=log)
    images = ImageSweep()
    if isinstance(provider, MakesImages):
        images = sweep_images(provider, tags[0], dry_run=common.dry_run, log=log)
    return _summary(outcome, log, calls, images)


def _summary(outcome: Outcome, log: logging.Logger, calls: int, images: ImageSweep) -> str:
    for instance in outcome.legacy_left:
        log.warning(
            "Instance %s has the old repository tag and its runner is not in this repository: it may be another "
            "repository's, so it was left alone (terminate it by hand if it is this repository's).",
            instance.id,
        )
    done = f"{len(outcome.terminated)} instance(s) terminated, {len(outcome.deleted)} runner(s) deleted"
    if images.deleted:
        done += f", {len(images.deleted)} stale baked image(s) deleted"
    problems = outcome.problems + images.problems
    if problems:
        raise SweepFailure(f"Sweep incomplete: {done}; {'; '.join(problems)}")
    if outcome.stopped:
        left = outcome.left or "nothing known"
        log.warning("Sweep stopped early: %s. Left for the next run: %s.", outcome.stopped, left)
        return f"Sweep stopped early ({outcome.stopped}): {done}; left for the next run: {left}"
    return f"Sweep finished: {done} ({calls} Bitbucket calls)"

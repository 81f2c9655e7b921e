"""COMMAND: sweep (also the first act of every launch): remove what runner mode left behind.

Terminates our instances that are past their expires-at, orphaned (their
runner is gone) or powered off; deletes our runners that are down and have no
instance. A runner is disabled before it is deleted and re-read, so a step
that started in between is never cut off (the autoscaler's race fix).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.models import Runner
from pipe.commands.clients import bitbucket_client
from pipe.config.common import CommonSettings
from pipe.config.runner import RunnerSettings
from pipe.providers import make_provider
from pipe.providers.base import Provider
from pipe.providers.catalog import resolve_location
from pipe.providers.tags import repository_tag
from pipe.runner.decide import plan_sweep


def run(common: CommonSettings, settings: RunnerSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    client = bitbucket_client(common, settings.runner_scope)
    region = resolve_location(settings.cloud, settings.region).region
    provider = make_provider(settings.cloud, region, env, kubernetes=settings.kubernetes)
    removed = sweep(
        client,
        provider,
        client.list_runners(),
        repository_tag(common.workspace, common.repo_slug),
        log=log,
        dry_run=common.dry_run,
    )
    return f"Sweep finished: {removed[0]} instance(s) terminated, {removed[1]} runner(s) deleted"


def sweep(
    client: BitbucketClient,
    provider: Provider,
    runners: Sequence[Runner],
    repo_tag: str,
    *,
    log: logging.Logger,
    dry_run: bool = False,
) -> tuple[int, int]:
    """Returns (instances terminated, runners deleted)."""
    plan = plan_sweep(runners, provider.list_ours(repo_tag), int(time.time()))
    terminated = deleted = 0
    for instance, reason in plan.terminate:
        log.info("Sweep: terminating instance %s (%s)%s", instance.id, reason, " [DRY_RUN]" if dry_run else "")
        if not dry_run:
            provider.terminate(instance)
            terminated += 1
    for runner, reason in plan.delete_runners:
        log.info("Sweep: deleting runner %s (%s)%s", runner.name, reason, " [DRY_RUN]" if dry_run else "")
        if not dry_run and _delete_unless_busy(client, runner, log):
            deleted += 1
    return terminated, deleted


def _delete_unless_busy(client: BitbucketClient, runner: Runner, log: logging.Logger) -> bool:
    client.set_runner_state(runner.uuid, "DISABLED")
    current = client.get_runner(runner.uuid)
    if current is None:
        return False
    if current.busy:
        log.info("Sweep: runner %s picked up a step meanwhile; leaving it.", runner.name)
        client.set_runner_state(runner.uuid, "ENABLED")
        return False
    client.delete_runner(runner.uuid)
    return True

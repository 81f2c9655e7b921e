"""COMMAND: runner. Reuse an online runner, or register one, start an instance for it and wait until it is ONLINE.

The story: plan -> step sizes against the machine -> (DRY_RUN: print it, check the credentials with one read,
stop) -> build the Bitbucket and cloud clients -> reuse? (reading only
the listing pages it takes) -> a bounded sweep of leftovers -> provision: register the runner, render its
startup script, launch (spot/zone fallback), wait for ONLINE, all rolled back if a later step fails or the
pipe is stopped -> leave the runner's details for later steps. The Bitbucket and cloud calls of a launch do
not grow with the runners and instances others have (pipe/runner/sweep.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import replace

from pipe.bitbucket.models import Runner
from pipe.commands.clients import bitbucket_client, checked_uuid, cloud_provider
from pipe.commands.shared import leave_for_later_steps
from pipe.config.cap import max_runners
from pipe.config.clouds import AwsOptions, cloud_credentials
from pipe.config.common import CommonSettings
from pipe.config.runner import RunnerSettings, random_name
from pipe.providers.base import Provider
from pipe.providers.tags import repository_tag
from pipe.runner.cap import check_cap, counted
from pipe.runner.decide import decide_from_pages
from pipe.runner.dry_run import PLACEHOLDER_UUID, check_credentials, print_dry_run
from pipe.runner.leftovers import Listing
from pipe.runner.plan import LaunchPlan, build_plan
from pipe.runner.provision import provision
from pipe.runner.quota import check_quotas, check_quotas_dry_run
from pipe.runner.step_size import check_step_sizes
from pipe.runner.sweep import at_launch


def run(common: CommonSettings, settings: RunnerSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    cap = max_runners(env)  # MAX_RUNNERS, refused here if malformed (issue 29)
    plan = build_plan(settings, settings.name or random_name(), int(time.time()))
    for line in plan.describe():
        log.info("Plan: %s", line)
    if settings.recovery is not None:
        recovery = settings.recovery
        log.info("Plan: spot recovery: %s/ to %s every %d s and on a notice; on-demand after %d interruptions",
                 recovery.checkpoint_path, recovery.store or "the bucket of ours", recovery.interval_s,
                 recovery.attempts)  # fmt: skip
    machine = plan.machine
    check_step_sizes(
        common.clone_dir, plan.labels, (plan.cloud, machine.instance_type, machine.gpu, machine.memory_gib),
        allow_small=settings.allow_small, log=log,
    )  # fmt: skip
    pipeline = common.build_number or common.pipeline_uuid
    if common.dry_run:
        print_dry_run(plan, repository_uuid=common.repo_uuid, pipeline=pipeline, log=log)
        if cap is not None:
            log.info("Plan: MAX_RUNNERS: %d (counted at launch, from the runner listing)", cap)
        tag = repository_tag(common.repo_uuid or PLACEHOLDER_UUID)
        works = check_credentials(lambda: cloud_provider(common, settings, env), plan.cloud, tag, log)
        if works:  # the quotas the launch needs, with the credentials just proven (issue 29)
            check_quotas_dry_run(lambda: cloud_provider(common, settings, env), plan, log)
        return "DRY_RUN: nothing was created" + ("" if works else f" (the {plan.cloud} credentials do not work)")

    client = bitbucket_client(common, settings.runner_scope)
    provider = cloud_provider(common, settings, env)
    # The step's BITBUCKET_REPO_UUID names our instances; the repository is read only when it is missing,
    # or for a launch (the runner needs the workspace's UUID): a reuse never reads it.
    repository = None if common.repo_uuid else client.repository()
    repo_uuid = common.repo_uuid or checked_uuid(repository, common)
    decision, listing = decide_from_pages(
        client.runner_pages(),
        plan.requested_labels,
        scope=settings.runner_scope,
        name=plan.name,
        check_name=settings.name_given or cap is not None,  # MAX_RUNNERS counts on the whole listing
        reuse=settings.reuse,
        reuse_idle=settings.reuse_idle,
    )
    read_all = settings.reuse or settings.reuse_idle or settings.name_given or cap is not None
    at_launch(
        client, provider, repository_tag(repo_uuid), listing,
        read_whole_listing=read_all and decision.action == "provision", log=log,
    )  # fmt: skip
    if decision.action == "reuse" and decision.runner is not None:
        log.info("Reusing runner %s (%s): %s.", decision.runner.name, decision.runner.uuid, decision.reason)
        _share(common, {"runner": decision.runner.name, "uuid": decision.runner.uuid, "reused": True}, log)
        return f"Reusing runner {decision.runner.name} with labels {', '.join(decision.runner.labels)}"
    if decision.reason:
        log.info("Provisioning a new runner: %s.", decision.reason)
    if cap is not None:
        check_cap(cap, _capped(provider, listing, plan, repo_uuid), plan.requested_labels)
    plan = check_quotas(provider, plan, log)  # before anything is created (issue 29); may drop a short spot
    if settings.recovery is not None:  # before anything is created: a store or policy problem creates nothing
        plan = replace(plan, checkpoint=_recovery(common, settings, plan.location.region, repo_uuid, env, log))

    launched = provision(
        client, provider, plan, repository=repository or client.repository(), repo_uuid=repo_uuid,
        pipeline=pipeline, poll_every_s=settings.poll_every_s, log=log,
    )  # fmt: skip
    runner, instance = launched.runner, launched.instance
    price = f"~${plan.machine.hourly_usd:.3f}/h" if plan.machine.hourly_usd is not None else "unknown price"
    market = "spot" if instance.spot else "on-demand"
    log.info("Runner: %s (%s), labels: %s", runner.name, runner.uuid, ", ".join(plan.requested_labels))
    log.info("Instance: %s, type %s, zone %s, %s, estimated %s (on-demand list price)",
             instance.id, instance.instance_type, instance.zone, market, price)  # fmt: skip
    _share(
        common,
        {
            "runner": runner.name,
            "uuid": runner.uuid,
            "labels": list(plan.requested_labels),
            "instance": instance.id,
            "zone": instance.zone,
            "type": instance.instance_type,
            "spot": instance.spot,
            "reused": False,
        },
        log,
    )
    return f"Runner {runner.name} is ONLINE on {plan.cloud} instance {instance.id}"


def _recovery(
    common: CommonSettings, settings: RunnerSettings, region: str, repo_uuid: str, env: Mapping[str, str],
    log: logging.Logger,
) -> dict[str, object]:
    """Spot recovery's store and the agent's settings (AWS: config refuses it elsewhere in this version)."""
    from pipe.checkpoint.launch import prepare_aws  # boto3 only on this path
    from pipe.providers.aws.credentials import session

    recovery, options = settings.recovery, settings.options
    assert recovery is not None and isinstance(options, AwsOptions)
    store = recovery.store
    return prepare_aws(
        session(region, options, cloud_credentials(env, "aws", build_number=common.build_number)),
        bucket=store.bucket if store else "", prefix=store.prefix if store else "", region=region,
        checkpoint_path=recovery.checkpoint_path, interval_s=recovery.interval_s, spot_attempts=recovery.attempts,
        permission_set=settings.permission_set, repository_uuid=repo_uuid, commit=common.commit, log=log,
    )  # fmt: skip


def _share(common: CommonSettings, data: dict[str, object], log: logging.Logger) -> None:
    """Leave the runner's details for later steps of the same pipeline."""
    leave_for_later_steps(common.shared_storage_dir, {"runner.json": json.dumps(data, indent=2) + "\n"}, log)


def _capped(provider: Provider, listing: Listing, plan: LaunchPlan, repo_uuid: str) -> list[Runner]:
    """The runners MAX_RUNNERS counts: a workspace listing holds every repository's, so there only those whose
    instances carry this repository's tag (one cloud call)."""
    instances = None
    if listing.scope == "workspace":
        instances = {i.runner_uuid for i in provider.list_ours(repository_tag(repo_uuid), with_state=False)}
    return counted(listing.runners, plan.requested_labels, instances)


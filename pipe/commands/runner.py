"""COMMAND: runner. Reuse an online runner, or register one, start an instance for it and wait until it is ONLINE.

The story: plan -> (DRY_RUN: print it, stop) -> reuse? (reading only the listing pages it takes) ->
a bounded sweep of leftovers -> register runner -> render startup script -> launch (spot/zone
fallback) -> wait for ONLINE. Anything created is rolled back if a later step fails or the pipe is
stopped. The Bitbucket and cloud calls of a launch do not grow with the runners and instances others
have (see pipe/runner/sweep.py).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipe import log as redaction
from pipe.bitbucket.client import BitbucketClient, BitbucketError
from pipe.bitbucket.models import RegisteredRunner, Repository, Runner
from pipe.bootstrap.render import render_user_data
from pipe.commands.clients import bitbucket_client, checked_uuid
from pipe.commands.shared import leave_for_later_steps
from pipe.config.common import CommonSettings
from pipe.config.runner import RunnerSettings, random_name
from pipe.providers import make_provider
from pipe.providers.base import Instance, InstanceSpec, Provider, ProviderError, ReportsTrouble, WorkloadFailed
from pipe.providers.tags import repository_tag, runner_tag
from pipe.runner.decide import NameInUse, decide_from_pages
from pipe.runner.dry_run import print_dry_run
from pipe.runner.launch import launch_with_fallback
from pipe.runner.leftovers import Listing
from pipe.runner.plan import LaunchPlan, build_plan
from pipe.runner.rollback import Interrupted, Rollback, signals_raise
from pipe.runner.step_size import warn_if_too_small
from pipe.runner.sweep import LAUNCH_CALLS, LAUNCH_CALLS_AFTER_LISTING, at_launch
from pipe.runner.wait import AVERAGE_EVERY_S, POLL_EVERY_S, wait_online


class RunnerFailure(Exception):
    """Runner mode failed after rolling back; str() is the one line shown."""


@dataclass(frozen=True)
class Launched:
    runner: Runner
    instance: Instance


def run(common: CommonSettings, settings: RunnerSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    plan = build_plan(settings, settings.name or random_name(), int(time.time()))
    for line in plan.describe():
        log.info("Plan: %s", line)
    warn_if_too_small(common.clone_dir, plan.labels, plan.machine.instance_type, plan.machine.memory_gib, log)
    if common.dry_run:
        print_dry_run(plan, repository_uuid=common.repo_uuid, pipeline=_pipeline(common), log=log)
        return "DRY_RUN: nothing was created"

    client = bitbucket_client(common, settings.runner_scope)
    provider = make_provider(plan.cloud, plan.location.region, env, kubernetes=plan.kubernetes)
    # The step's BITBUCKET_REPO_UUID names our instances; the repository is read only when it is missing,
    # or for a launch (the runner needs the workspace's UUID): a reuse never reads it.
    repository = None if common.repo_uuid else client.repository()
    repo_uuid = common.repo_uuid or checked_uuid(repository, common)
    try:
        decision, listing = decide_from_pages(
            client.runner_pages(),
            plan.requested_labels,
            scope=settings.runner_scope,
            name=plan.name,
            check_name=settings.name_given,
            reuse=settings.reuse,
            reuse_idle=settings.reuse_idle,
        )
    except NameInUse as conflict:
        raise RunnerFailure(str(conflict)) from None
    # A launch that read the whole listing (REUSE, REUSE_IDLE, NAME) and then provisions has spent its calls.
    read_all = settings.reuse or settings.reuse_idle or settings.name_given
    calls = LAUNCH_CALLS_AFTER_LISTING if read_all and decision.action == "provision" else LAUNCH_CALLS
    _sweep(client, provider, repository_tag(repo_uuid), listing, calls, log)
    if decision.action == "reuse" and decision.runner is not None:
        log.info("Reusing runner %s (%s): %s.", decision.runner.name, decision.runner.uuid, decision.reason)
        _share(common, {"runner": decision.runner.name, "uuid": decision.runner.uuid, "reused": True}, log)
        return f"Reusing runner {decision.runner.name} with labels {', '.join(decision.runner.labels)}"
    if decision.reason:
        log.info("Provisioning a new runner: %s.", decision.reason)

    launched = _launch(client, provider, plan, common, repository or client.repository(), repo_uuid, log)
    instance = launched.instance
    price = f"~${plan.machine.hourly_usd:.3f}/h" if plan.machine.hourly_usd is not None else "unknown price"
    market = "spot" if instance.spot else "on-demand"
    log.info(
        "Runner: %s (%s), labels: %s", launched.runner.name, launched.runner.uuid, ", ".join(plan.requested_labels)
    )
    log.info(
        "Instance: %s, type %s, zone %s, %s, estimated %s (on-demand list price)",
        instance.id,
        instance.instance_type,
        instance.zone,
        market,
        price,
    )
    _share(
        common,
        {
            "runner": launched.runner.name,
            "uuid": launched.runner.uuid,
            "labels": list(plan.requested_labels),
            "instance": instance.id,
            "zone": instance.zone,
            "type": instance.instance_type,
            "spot": instance.spot,
            "reused": False,
        },
        log,
    )
    return f"Runner {launched.runner.name} is ONLINE on {plan.cloud} instance {instance.id}"


def _sweep(
    client: BitbucketClient,
    provider: Provider,
    repo_tag: str,
    listing: Listing,
    calls: int,
    log: logging.Logger,
) -> None:
    """Leftovers must not block a launch, nor make it cost more in a busy repository: a bounded sweep."""
    with signals_raise():
        try:
            outcome = at_launch(client, provider, repo_tag, listing, calls=calls, log=log)
        except (ProviderError, BitbucketError) as problem:
            log.warning("Sweep skipped: %s", str(problem).splitlines()[0])
            return
        except Interrupted as stop:
            raise RunnerFailure(f"{stop} during the sweep; nothing was launched") from None
    for trouble in outcome.problems:
        log.warning("Sweep: %s", trouble)
    if outcome.left or outcome.stopped:
        log.info("Sweep at launch left some for COMMAND: sweep (%s).", outcome.left or outcome.stopped)


def _launch(
    client: BitbucketClient,
    provider: Provider,
    plan: LaunchPlan,
    common: CommonSettings,
    repository: Repository,
    repo_uuid: str,
    log: logging.Logger,
) -> Launched:
    rollback = Rollback()
    repo_tag = repository_tag(repo_uuid)
    # The handlers stay installed through the rollback, which ignores further signals itself.
    with signals_raise():
        try:
            image = provider.resolve_image(plan.image_request, plan.machine.has_gpu)
            disk_gb = plan.root_disk_gb(provider.image_disk_gb(image))  # refused here, before anything exists
            if disk_gb != plan.disk_gb:
                log.info("Root disk: %d GB, the size of image %s (more than %d GB).", disk_gb, image, plan.disk_gb)
            zones = list(plan.location.zones) or provider.zones(plan.machine.instance_type)
            created: list[Runner] = []

            def delete_runner() -> None:
                # A registration whose answer was lost or malformed (no uuid) may still have registered the
                # runner: then it is found by its name and labels (a NAME given was checked unused above; a
                # random one is unique).
                for registered_runner in created or client.runners_named(plan.name, list(plan.labels)):
                    client.delete_runner(registered_runner.uuid)

            rollback.add(f"delete runner {plan.name}", delete_runner)
            registered = client.create_runner(plan.name, list(plan.labels))
            redaction.register_secret(registered.oauth_client_secret)
            runner = registered.runner
            created.append(runner)
            # Whatever the launch got to create is found by the runner's tag: this covers a stop mid-call.
            rollback.add(
                f"terminate instances of runner {runner.name}", lambda: _terminate_for(provider, runner, repo_tag)
            )
            spec = _spec(plan, registered, repository, repo_uuid, image, disk_gb, common)
            instance = launch_with_fallback(provider, spec, zones, plan.spot)
            log.info("Instance %s is starting in %s; waiting for the runner to connect.", instance.id, instance.zone)
            poll_every, average_every = _poll_cadence()
            online = wait_online(
                client.get_runner,
                runner,
                timeout_s=plan.wait_timeout_s,
                what=f"instance {instance.id} booting",
                poll_every_s=poll_every,
                average_every_s=average_every,
                watch=_watcher(provider, instance, log),
            )
            return Launched(online, instance)
        except (Exception, Interrupted) as failure:
            undone = rollback.size
            failed = rollback.run()
            reason = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
            if failed:
                raise RunnerFailure(
                    f"{reason}; rollback incomplete ({'; '.join(failed)}): run COMMAND: sweep"
                ) from None
            if undone:
                raise RunnerFailure(f"{reason} (rolled back: the runner and instance were removed)") from None
            raise


def _watcher(provider: Provider, instance: Instance, log: logging.Logger) -> Callable[[], str | None] | None:
    """For providers that can see their workload's trouble (ReportsTrouble): each new trouble is one line in the
    log, and fatal trouble ends the wait (the launch is then rolled back)."""
    if not isinstance(provider, ReportsTrouble):
        return None
    seen: set[str] = set()

    def watch() -> str | None:
        found = provider.trouble(instance)
        if found is None:
            return None
        if found.message not in seen:
            seen.add(found.message)
            log.warning("%s", found.message)
        if found.fatal:
            raise WorkloadFailed(found.message)
        return found.message

    return watch


def _spec(
    plan: LaunchPlan,
    registered: RegisteredRunner,
    repository: Repository,
    repo_uuid: str,
    image: str,
    disk_gb: int,
    common: CommonSettings,
) -> InstanceSpec:
    runner = registered.runner
    boot = plan.boot_config(
        account_uuid=repository.workspace_uuid,
        repository_uuid=repository.uuid,
        runner_uuid=runner.uuid,
        client_id=registered.oauth_client_id,
        client_secret=registered.oauth_client_secret,
    )
    try:  # a Kubernetes workload is built from boot by the provider: there is no boot script
        user_data = "" if plan.kubernetes is not None else render_user_data(boot)
    except ValueError as too_big:
        raise RunnerFailure(str(too_big)) from None
    return InstanceSpec(
        name=plan.name,
        region=plan.location.region,
        instance_type=plan.machine.instance_type,
        image=image,
        disk_gb=disk_gb,
        disk_explicit=plan.disk_explicit,
        user_data=user_data,
        tags=plan.tags(runner_uuid=runner.uuid, repository_uuid=repo_uuid, pipeline=_pipeline(common)),
        accelerator=plan.machine.accelerator,
        accelerator_count=plan.machine.accelerator_count,
        spot_price=plan.spot_price,
        permission_set=plan.permission_set,
        max_lifetime_s=plan.max_lifetime_s,
        boot=boot,
    )


def _pipeline(common: CommonSettings) -> str:
    return common.build_number or common.pipeline_uuid


def _terminate_for(provider: Provider, runner: Runner, repo_tag: str) -> None:
    mine = [i for i in provider.list_ours(repo_tag, with_state=False) if i.runner_uuid == runner_tag(runner.uuid)]
    if mine:
        provider.terminate_many(mine)


def _poll_cadence() -> tuple[float, float]:
    """CML_RUNNER_POLL_SECONDS is a test-only knob: tests need not wait seconds per poll."""
    raw = os.environ.get("CML_RUNNER_POLL_SECONDS", "")
    try:
        every = max(0.05, float(raw)) if raw else 0.0
    except ValueError:
        every = 0.0
    return (every, every) if every else (POLL_EVERY_S, AVERAGE_EVERY_S)


def _share(common: CommonSettings, data: dict[str, object], log: logging.Logger) -> None:
    """Leave the runner's details for later steps of the same pipeline."""
    leave_for_later_steps(common.shared_storage_dir, {"runner.json": json.dumps(data, indent=2) + "\n"}, log)

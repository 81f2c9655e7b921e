"""A new runner: register it, render its startup script, launch its instance (zone and spot fallback) and wait
until it is ONLINE. Each step registers its undo first, so a failure, or SIGTERM/SIGINT, at any point removes
the runner and every instance tagged with its uuid before the one-line failure (CONTRACT-NOTES: rollback)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from pipe.bake.lookup import choose_image
from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.models import RegisteredRunner, Repository, Runner
from pipe.bootstrap.render import render_user_data
from pipe.checkpoint.keys import with_relaunch
from pipe.providers.base import Instance, InstanceSpec, Provider, ReportsTrouble, WorkloadFailed
from pipe.providers.tags import repository_tag, runner_tag
from pipe.runner.errors import RunnerFailure
from pipe.runner.launch import launch_with_fallback, terminate_ours
from pipe.runner.plan import LaunchPlan
from pipe.runner.rollback import Interrupted, Rollback, signals_raise
from pipe.runner.wait import AVERAGE_EVERY_S, POLL_EVERY_S, wait_online


@dataclass(frozen=True)
class Launched:
    runner: Runner
    instance: Instance


def provision(
    client: BitbucketClient,
    provider: Provider,
    plan: LaunchPlan,
    *,
    repository: Repository,
    repo_uuid: str,
    pipeline: str,
    poll_every_s: float | None,
    log: logging.Logger,
) -> Launched:
    """poll_every_s: CML_RUNNER_POLL_SECONDS (tests poll faster); None = the rate-limited cadence."""
    rollback = Rollback()
    repo_tag = repository_tag(repo_uuid)
    # The handlers stay installed through the rollback, which ignores further signals itself.
    with signals_raise():
        try:
            chosen = choose_image(
                provider, plan.image_request, gpu=plan.machine.has_gpu, stock=plan.image_stock,
                repository_tag=repo_tag, log=log,
            )  # fmt: skip
            image = chosen.image
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
            runner = registered.runner
            created.append(runner)
            # Whatever the launch got to create is found by the runner's tag: this covers a stop mid-call.
            rollback.add(
                f"terminate instances of runner {runner.name}", lambda: _terminate_for(provider, runner, repo_tag)
            )
            spec = _spec(plan, registered, repository, repo_uuid, image, disk_gb, pipeline, baked=chosen.baked)
            instance = launch_with_fallback(
                provider, spec, zones, plan.spot, fallback=plan.spot_fallback, spot_price=plan.spot_price
            )
            log.info("Instance %s is starting in %s; waiting for the runner to connect.", instance.id, instance.zone)
            online = wait_online(
                client.get_runner,
                runner,
                timeout_s=plan.wait_timeout_s,
                what=f"instance {instance.id} booting",
                poll_every_s=poll_every_s or POLL_EVERY_S,
                average_every_s=poll_every_s or AVERAGE_EVERY_S,
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
    pipeline: str,
    *,
    baked: bool,
) -> InstanceSpec:
    runner = registered.runner
    boot = plan.boot_config(
        baked=baked,
        account_uuid=repository.workspace_uuid,
        repository_uuid=repository.uuid,
        runner_uuid=runner.uuid,
        client_id=registered.oauth_client_id,
        client_secret=registered.oauth_client_secret,
    )
    tags = plan.tags(runner_uuid=runner.uuid, repository_uuid=repo_uuid, pipeline=pipeline)
    if boot.checkpoint is not None:  # spot recovery: the replacement the VM starts carries the same tags and disk
        boot = replace(boot, checkpoint=with_relaunch(boot.checkpoint, tags, disk_gb))
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
        tags=tags,
        accelerator=plan.machine.accelerator,
        accelerator_count=plan.machine.accelerator_count,
        spot_price=plan.spot_price,
        permission_set=plan.permission_set,
        max_lifetime_s=plan.max_lifetime_s,
        boot=boot,
    )


def _terminate_for(provider: Provider, runner: Runner, repo_tag: str) -> None:
    terminate_ours(provider, repo_tag, lambda instance: instance.runner_uuid == runner_tag(runner.uuid))

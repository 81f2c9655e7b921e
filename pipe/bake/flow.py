"""A baked image: one instance from the base image runs the boot script's bake role and powers itself off; its
disk becomes a machine image of ours; the instance goes. Each step registers its undo first, so a failure, or
SIGTERM/SIGINT, at any point removes the instance and any image (with its snapshots) the bake made, before the
one-line failure (runner mode's Rollback, pipe/runner/rollback.py)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

from pipe.bake.errors import BakeFailure
from pipe.bake.recipe import Recipe, bake_instance_tags, image_name, image_tags
from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE, render_bake_script
from pipe.providers.base import TAG_BAKE_ID, ImageProvider, Instance, InstanceSpec, MachineImage
from pipe.providers.tags import repository_tag
from pipe.runner.launch import launch_with_fallback, terminate_ours
from pipe.runner.plan import LaunchPlan
from pipe.runner.rollback import Interrupted, Rollback, signals_raise

# The bake's instance powers itself off at the latest this long after its boot script starts (bake.sh's backup
# power-off), and the pipe waits that long plus the boot: a GPU bake installs a driver and reboots once.
BAKE_DEADLINE_S = 40 * 60
BOOT_ALLOWANCE_S = 5 * 60
# CreateImage of a 35-100 GB disk takes minutes (EC2: the snapshot's first copy of every block).
IMAGE_TIMEOUT_S = 60 * 60
POLL_EVERY_S = 15.0
# The guest's own word that the bake worked: the line bake.sh prints last, before its power-off. A stopped instance
# without it on its serial console (the backup power-off after a failed step, a power-off by hand) is no bake.
# EC2 posts console output shortly after a state change (GetConsoleOutput), so the console is read a few times.
BAKE_SUCCEEDED = "cml-runner: bake succeeded for recipe {recipe}"
CONSOLE_READS = 12
CONSOLE_LINES_SHOWN = 20


@dataclass(frozen=True)
class Baked:
    image: MachineImage
    recipe: Recipe


def bake(
    provider: ImageProvider,
    plan: LaunchPlan,
    *,
    repo_uuid: str,
    pipeline: str,
    poll_every_s: float | None,
    log: logging.Logger,
) -> Baked:
    rollback = Rollback()
    repo_tag = repository_tag(repo_uuid)
    bake_id = str(uuid.uuid4())
    every = poll_every_s or POLL_EVERY_S
    with signals_raise():
        try:
            base = provider.resolve_image(plan.image_request, plan.machine.has_gpu)
            recipe = Recipe(base_image=base, runner_image=DEFAULT_RUNNER_IMAGE, gpu=plan.machine.has_gpu)
            log.info("Baking %s.", recipe.describe())
            disk_gb = plan.root_disk_gb(provider.image_disk_gb(base))
            zones = list(plan.location.zones) or provider.zones(plan.machine.instance_type)

            rollback.add(
                "terminate the bake's instance",
                lambda: terminate_ours(provider, repo_tag, lambda instance: instance.tags.get(TAG_BAKE_ID) == bake_id),
            )
            spec = InstanceSpec(
                name=plan.name,
                region=plan.location.region,
                instance_type=plan.machine.instance_type,
                image=base,
                disk_gb=disk_gb,
                disk_explicit=plan.disk_explicit,
                user_data=render_bake_script(
                    plan.cloud, gpu=plan.machine.has_gpu, recipe=recipe.hash, deadline_s=BAKE_DEADLINE_S
                ),
                tags=bake_instance_tags(
                    repository_uuid=repo_uuid,
                    bake_id=bake_id,
                    pipeline=pipeline,
                    created_at=plan.created_at,
                    expires_at=plan.created_at + BAKE_DEADLINE_S + BOOT_ALLOWANCE_S + IMAGE_TIMEOUT_S,
                ),
                accelerator=plan.machine.accelerator,
                accelerator_count=plan.machine.accelerator_count,
                permission_set=plan.permission_set,
                stop_on_shutdown=True,
            )
            instance = launch_with_fallback(provider, spec, zones, spot=False)
            log.info("Instance %s is installing in %s; waiting for it to power off.", instance.id, instance.zone)
            stopped = _wait_stopped(provider, repo_tag, bake_id, BAKE_DEADLINE_S + BOOT_ALLOWANCE_S, every)
            _require_success_line(provider, stopped, recipe, every, log)
            # Whatever CreateImage got to make is found by the bake's tag: this covers a stop mid-call.
            rollback.add("delete the bake's image", lambda: provider.delete_bake_leftovers(repo_tag, bake_id))
            tags = image_tags(
                repository_uuid=repo_uuid, bake_id=bake_id, recipe=recipe, pipeline=pipeline, created_at=plan.created_at
            )
            started = provider.create_image(stopped, image_name(recipe, plan.created_at), tags)
            log.info("Image %s (%s) is being made from the disk of %s.", started.id, started.name, instance.id)
            image = _wait_available(provider, started, IMAGE_TIMEOUT_S, every)
            provider.terminate_many([stopped])  # the image keeps the disk: the instance is not needed any more
            return Baked(image, recipe)
        except (Exception, Interrupted) as failure:
            undone = rollback.size
            failed = rollback.run()
            reason = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
            if failed:
                raise BakeFailure(f"{reason}; rollback incomplete ({'; '.join(failed)}): run COMMAND: sweep") from None
            if undone:
                raise BakeFailure(f"{reason} (rolled back: the bake's instance and image were removed)") from None
            raise


def _wait_stopped(provider: ImageProvider, repo_tag: str, bake_id: str, timeout_s: float, every: float) -> Instance:
    deadline = time.monotonic() + timeout_s
    while True:
        mine = [i for i in provider.list_ours(repo_tag) if i.tags.get(TAG_BAKE_ID) == bake_id]
        if not mine:
            raise BakeFailure(
                "the bake's instance ended before powering off (terminated by someone else, or a spot reclaim): "
                "nothing was baked"
            )
        if mine[0].state == "stopped":
            return mine[0]
        if time.monotonic() >= deadline:
            raise BakeFailure(
                f"the bake's instance {mine[0].id} did not power off within {int(timeout_s) // 60} min: see its "
                "console log (the lines starting 'cml-runner:' name the step that hung)"
            )
        time.sleep(every)


def _require_success_line(
    provider: ImageProvider, instance: Instance, recipe: Recipe, every: float, log: logging.Logger
) -> None:
    line = BAKE_SUCCEEDED.format(recipe=recipe.hash)
    console = ""
    for attempt in range(CONSOLE_READS):
        console = provider.console_output(instance)
        if line in console:
            return
        if attempt + 1 < CONSOLE_READS:
            time.sleep(every)
    tail = [printable(text) for text in console.splitlines() if text.strip()][-CONSOLE_LINES_SHOWN:]
    log.error("The bake's instance %s powered off without its success line; its last console lines:", instance.id)
    for text in tail or ["(the console is empty)"]:
        log.error("  | %s", text)
    raise BakeFailure(
        f"the bake's instance {instance.id} powered off without '{line}' on its console: the bake failed (the "
        "console lines above name the step), so no image was made"
    )


def printable(text: str) -> str:
    """A console line as plain text: escape sequences and control characters dropped, at most 300 characters."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return "".join(ch for ch in text if ch.isprintable())[:300]


def _wait_available(provider: ImageProvider, image: MachineImage, timeout_s: float, every: float) -> MachineImage:
    deadline = time.monotonic() + timeout_s
    while True:
        now = provider.image(image.id)
        if now is None or now.state == "failed":
            raise BakeFailure(f"the cloud could not make image {image.id} ({'gone' if now is None else 'failed'})")
        if now.state == "available":
            return now
        if time.monotonic() >= deadline:
            raise BakeFailure(f"image {image.id} was not available within {int(timeout_s) // 60} min")
        time.sleep(every)

"""COMMAND: bake. A machine image with Docker (GPU: the NVIDIA container toolkit as Docker's default runtime)
installed and the runner image pulled, so a runner launched from it installs and pulls nothing.

The story: plan (the base image, the machine, the recipe) -> (DRY_RUN: print it, stop) -> build the cloud's
client -> bake (pipe/bake/flow.py: one instance runs the boot script's bake role and powers off, its disk becomes
an image of ours named and tagged with its recipe hash, the instance goes; all rolled back on a failure or
SIGTERM) -> print the image's id and leave it for later steps. Runner mode then finds the image by itself.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from collections.abc import Mapping
from typing import cast

from pipe.bake.errors import BakeFailure
from pipe.bake.flow import bake
from pipe.commands.clients import bitbucket_client, cloud_provider, repository_uuid
from pipe.commands.shared import leave_for_later_steps
from pipe.config.common import CommonSettings
from pipe.config.runner import RunnerSettings
from pipe.config.variables import ConfigError
from pipe.providers.base import ImageProvider, MakesImages
from pipe.runner.plan import build_plan


def run(common: CommonSettings, settings: RunnerSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    if settings.kubernetes is not None:
        raise ConfigError("CLOUD", "kubernetes", "COMMAND: bake makes a VM image: use aws, gcp or azure")
    if settings.image_stock:
        raise ConfigError("CLOUD_IMAGE", "stock", "with COMMAND: bake, the base image to bake from (unset: Ubuntu's)")
    name = "cml-bake-" + "".join(secrets.choice(string.digits + string.ascii_lowercase) for _ in range(8))
    plan = build_plan(settings, name, int(time.time()))
    for line in plan.describe():
        if line.startswith(("cloud:", "instance type:", "image:", "network:")):  # no runner, no spot, no lifetimes
            log.info("Plan: %s", line.replace("image:", "base image:", 1))
    log.info("Plan: bake: install Docker%s, pull the runner image, clear the instance's own state, power off, make "
             "an image of the disk, delete the instance", " and the NVIDIA container toolkit" if plan.machine.has_gpu
             else "")  # fmt: skip
    if common.dry_run:
        return "DRY_RUN: nothing was created"

    provider = cloud_provider(common, settings, env)
    if not isinstance(provider, MakesImages):
        raise BakeFailure(f"COMMAND: bake is not available on CLOUD {settings.cloud} in this version of the pipe")
    repo_uuid = repository_uuid(common, bitbucket_client(common, settings.runner_scope))
    baked = bake(
        cast(ImageProvider, provider), plan, repo_uuid=repo_uuid, pipeline=common.build_number or common.pipeline_uuid,
        poll_every_s=settings.poll_every_s, log=log,
    )  # fmt: skip
    image = baked.image
    record = {"image": image.id, "name": image.name, "recipe": baked.recipe.hash}
    leave_for_later_steps(common.shared_storage_dir, {"image.json": json.dumps(record, indent=2) + "\n"}, log)
    return f"Baked image {image.id} ({image.name}, {baked.recipe.describe()})"

"""DRY_RUN of runner mode: what a launch would create, printed from the plan alone (no Bitbucket or cloud call,
no SDK imported): the tags, then the startup script (VM clouds) or the Job and its Secret (Kubernetes), with
every secret masked."""

from __future__ import annotations

import json
import logging

import yaml

from pipe.bootstrap.render import BootConfig, masked, render_startup_script
from pipe.providers.base import InstanceSpec
from pipe.runner.plan import LaunchPlan

# DRY_RUN registers nothing: the plan shows this where the runner's uuids will be.
PLACEHOLDER_UUID = "{00000000-0000-0000-0000-000000000000}"


def print_dry_run(plan: LaunchPlan, *, repository_uuid: str, pipeline: str, log: logging.Logger) -> None:
    """``repository_uuid``: the step's BITBUCKET_REPO_UUID, or "" (then the placeholder: nothing is read)."""
    boot = plan.boot_config(
        account_uuid=PLACEHOLDER_UUID,
        repository_uuid=PLACEHOLDER_UUID,
        runner_uuid=PLACEHOLDER_UUID,
        client_id="registered-at-launch",
        client_secret="registered-at-launch",  # noqa: S106 - a placeholder, masked anyway
    )
    repository = repository_uuid or PLACEHOLDER_UUID
    tags = plan.tags(runner_uuid=PLACEHOLDER_UUID, repository_uuid=repository, pipeline=pipeline)
    log.info("Plan: tags: %s", json.dumps(tags, sort_keys=True))
    if plan.kubernetes is not None:
        _print_manifests(plan, boot, tags, log)
        return
    log.info("Plan: startup script (secrets masked):\n%s", masked(render_startup_script(boot)))


def _print_manifests(plan: LaunchPlan, boot: BootConfig, tags: dict[str, str], log: logging.Logger) -> None:
    """What CLOUD kubernetes would create, as YAML, the Secret's values masked (no SDK is imported)."""
    from pipe.providers.kubernetes.manifests import for_display, job_manifest, masked_secret, secret_manifest

    assert plan.kubernetes is not None
    spec = InstanceSpec(
        name=plan.name,
        region=plan.location.region,
        instance_type=plan.machine.instance_type,
        image=plan.kubernetes.dind_image,
        disk_gb=0,
        user_data="",
        tags=tags,
        accelerator=plan.machine.accelerator,
        accelerator_count=plan.machine.accelerator_count,
        max_lifetime_s=plan.max_lifetime_s,
        boot=boot,
    )
    job = job_manifest(spec, plan.kubernetes)
    secret = masked_secret(secret_manifest(job, boot, "assigned-by-the-cluster"))
    text = yaml.safe_dump_all([for_display(job), secret], sort_keys=False, width=120)
    log.info("Plan: Kubernetes manifests (secrets masked):\n%s", text)

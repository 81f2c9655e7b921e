"""DRY_RUN of runner mode: what a launch would create, printed from the plan (no Bitbucket call), and one
read-only call that tells whether the cloud credentials the launch would use work.

By default the plan is short: the tags, the startup script by its size, sha256 and its boot steps with their
purpose (VM clouds), or the Job and its Secret by size (Kubernetes). DEBUG: 'true' prints the script or the
manifests themselves, every secret masked. The credentials check creates nothing: AWS answers sts
GetCallerIdentity (read-only, and it needs no permission: AWS STS API reference, GetCallerIdentity, "No
permissions are required to perform this operation"); GCP, Azure and Kubernetes list this repository's
instances of ours, the read the launch's own sweep makes first. A failed check is a warning: DRY_RUN exits 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable

import yaml

from pipe.bootstrap.render import BootConfig, masked, render_startup_script
from pipe.errors import PipeError
from pipe.providers.base import InstanceSpec, Provider
from pipe.runner.plan import LaunchPlan

# What each boot step of the startup script (pipe/bootstrap) is for, in the words the plan prints.
BOOT_STEP_PURPOSES = {
    "prepare": "make the pipe's directories (root only) and, on AWS and Azure, rerun the script at every boot",
    "lifetime-fallback": "power off at MAX_LIFETIME even if the idle agent dies",
    "agent": "install the idle agent (IDLE_TIMEOUT, SINGLE, MAX_LIFETIME, spot notices)",
    "user-startup-script": "run CLOUD_STARTUP_SCRIPT, if any",
    "docker": "install Docker from the distribution if the image has none, and start it",
    "gpu": "check the NVIDIA driver and container toolkit (installing them if missing); steps' containers see the GPU",
    "pull-runner-image": "pull Atlassian's Linux Docker runner image (retried)",
    "start-runner": "start the runner with its OAuth credentials, as a systemd service",
}
_STEP_LINE = re.compile(r"^(?:if .*; then )?step (\S+) ", re.MULTILINE)

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
    script = masked(render_startup_script(boot))
    log.info(
        "Plan: startup script: %d bytes, sha256 %s (secrets masked; DEBUG: 'true' prints it)",
        len(script.encode()), hashlib.sha256(script.encode()).hexdigest(),
    )  # fmt: skip
    steps = boot_steps(script)
    for number, name in enumerate(steps, 1):
        purpose = BOOT_STEP_PURPOSES.get(name, "see the script (DEBUG)")
        log.info("Plan:   boot step %d/%d %s: %s", number, len(steps), name, purpose)
    log.debug("Plan: startup script (secrets masked):\n%s", script)


def boot_steps(script: str) -> list[str]:
    """The names of the script's boot steps, in the order it runs them."""
    return _STEP_LINE.findall(script)


def check_credentials(make_provider: Callable[[], Provider], cloud: str, repo_tag: str, log: logging.Logger) -> bool:
    """One read-only call with the credentials the launch would use; says whether they work, creates nothing."""
    try:
        provider = make_provider()
        identity = getattr(provider, "identity", None)
        if callable(identity):
            how = f"sts GetCallerIdentity answered {identity()}"
        else:
            found = provider.list_ours(repo_tag, with_state=False)
            how = f"a read-only listing of this repository's instances of ours answered ({len(found)} found)"
    except PipeError as error:
        log.warning("Credentials: the %s credentials the launch would use do not work: %s. DRY_RUN goes on; a launch "
                    "would stop here.", cloud, str(error).rstrip("."))  # fmt: skip
        return False
    except Exception as error:  # noqa: BLE001 - a check, not the launch: anything the SDK raises is its answer
        log.warning("Credentials: the %s credentials could not be checked: %s: %s. DRY_RUN goes on.",
                    cloud, type(error).__name__, str(error).splitlines()[0][:300] if str(error) else "")  # fmt: skip
        return False
    log.info("Credentials: the %s credentials the launch would use work: %s.", cloud, how)
    return True


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
    log.info(
        "Plan: Kubernetes manifests: a Job and its Secret, %d bytes of YAML, sha256 %s (secrets masked; DEBUG: "
        "'true' prints them)", len(text.encode()), hashlib.sha256(text.encode()).hexdigest(),
    )  # fmt: skip
    log.debug("Plan: Kubernetes manifests (secrets masked):\n%s", text)

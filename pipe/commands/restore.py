"""COMMAND: restore. The newest checkpoint of this commit into CHECKPOINT_PATH, or nothing on a first run.

The training step's first line (docs/runner.md, Spot recovery): the pipe reads the store with the step's own
cloud credentials (the same variables as runner mode's; no Bitbucket token), writes the files into the folder
inside the clone, and prints which checkpoint it restored so the re-run's log names it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pipe import paths
from pipe.bootstrap import checkpoints
from pipe.bootstrap.checkpoints import Objects, StoreError
from pipe.bootstrap.relaunch import interruptions
from pipe.checkpoint.keys import run_base
from pipe.config.clouds import cloud_credentials, load_aws
from pipe.config.common import CommonSettings
from pipe.config.spot import RestoreSettings, StoreUrl
from pipe.config.variables import ConfigError
from pipe.errors import PipeError


def run(common: CommonSettings, settings: RestoreSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    try:
        folder = paths.resolve_dir(common.clone_dir, settings.checkpoint_path)
    except paths.PathRefused as why:
        raise ConfigError("CHECKPOINT_PATH", settings.checkpoint_path, f"{why}; give a folder inside the clone "
                          "directory, as a relative path") from None  # fmt: skip
    objects, store = _open(common, settings, env)
    base = run_base(store.prefix, common.repo_uuid, common.commit, settings.checkpoint_path)
    if common.dry_run:
        return f"DRY_RUN: would restore the newest checkpoint in {store}/{base.removeprefix(store.prefix + '/')}"
    try:
        pointer = checkpoints.restore(objects, base, str(folder.real))
    except (StoreError, OSError) as error:
        raise PipeError(f"restore from {store}: {error}") from None
    if pointer is None:
        return f"No checkpoint of commit {common.commit[:12]} in {store}: the training starts from the beginning"
    try:
        attempt = interruptions(objects, base) + 1
    except StoreError:
        attempt = 0  # the count is for the log only
    files = pointer["files"] if isinstance(pointer["files"], list) else []
    log.info("Checkpoint %s, saved %s (%s), %d files, into %s/", pointer["id"], pointer.get("saved_at"),
             pointer.get("reason"), len(files), folder.relative)  # fmt: skip
    after = f", attempt {attempt} after {attempt - 1} interruption{'s' * (attempt != 2)}" if attempt > 1 else ""
    return f"Restored checkpoint {pointer['id']} ({pointer.get('reason')}{after}) into {folder.relative}/"


def _open(common: CommonSettings, settings: RestoreSettings, env: Mapping[str, str]) -> tuple[Objects, StoreUrl]:
    if settings.cloud == "gcp" and settings.store is not None:
        return _gcs(settings, env), settings.store
    if settings.cloud != "aws":
        raise PipeError(f"COMMAND: restore from {settings.cloud} stores is not in this version; use s3:// or gs://")
    from pipe.checkpoint import aws  # boto3 only on this path
    from pipe.providers.aws.credentials import session

    region = env.get("AWS_DEFAULT_REGION", "").strip() or env.get("AWS_REGION", "").strip() or "us-east-1"
    boto = session(region, load_aws(env, "aws"), cloud_credentials(env, "aws", build_number=common.build_number))
    store = settings.store or StoreUrl("aws", aws.bucket_name(aws.account_id(boto), common.repo_uuid), "")
    return aws.session_objects(boto, store.bucket), store


def _gcs(settings: RestoreSettings, env: Mapping[str, str]) -> Objects:
    """Cloud Storage with the step's GCP credentials (the same variables as runner mode's); a stand-in takes none."""
    from pipe.bootstrap.store_gcs import GcsObjects

    assert settings.store is not None
    if settings.gcs_endpoint:
        return GcsObjects(settings.store.bucket, lambda: "", endpoint=settings.gcs_endpoint)
    import google.auth.transport.requests  # google-auth only on this path

    from pipe.providers.gcp.credentials import gcp_credentials

    credentials = gcp_credentials(cloud_credentials(env, "gcp")).credentials
    if getattr(credentials, "requires_scopes", False):
        credentials = credentials.with_scopes(["https://www.googleapis.com/auth/devstorage.read_write"])

    def token() -> str:
        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
        return str(credentials.token)

    return GcsObjects(settings.store.bucket, token)

"""Spot recovery's variables -> SpotRecovery (runner mode) and RestoreSettings (COMMAND: restore).

Parsed once here; the runner's plan, the VM's agent config and the restore step take the typed values.
CHECKPOINT_PATH is a folder relative to the clone, checked here by its text (the training step's clone is on
another machine than the runner step's); the restore step resolves it again inside its own clone
(pipe/paths.py resolve_dir) before writing anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipe import paths
from pipe.config.parsers import check_text, parse_bool, parse_duration, parse_endpoint, parse_int
from pipe.config.variables import ConfigError, Variable

DEFAULT_ATTEMPTS = 2
# Bitbucket's step retry takes maxRetryCount 1-10 (Atlassian's Bitbucket blog, "Introducing the retry step
# failure strategy for Bitbucket Pipelines"): the relaunches of one step cannot usefully outnumber it.
MAX_ATTEMPTS = 10
DEFAULT_INTERVAL = "5min"
MIN_INTERVAL_S = 30  # a copy takes seconds; more often only loads the store
MAX_INTERVAL_S = 24 * 3600
SCHEMES = {"s3": "aws", "gs": "gcp", "az": "azure"}
# The instance's own identity reaches only its own cloud's store (pipe/checkpoint/policy.py prints what it needs).
STORE_HELP = "s3://bucket/prefix, gs://bucket/prefix or az://account/container/prefix"
_S3_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"  # docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_GCS_BUCKET = r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]"  # cloud.google.com/storage/docs/buckets#naming
# learn.microsoft.com/azure/storage/common/storage-account-overview#storage-account-name
_AZ_ACCOUNT = r"[a-z0-9]{3,24}"
_AZ_CONTAINER = r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]"  # .../rest/api/naming-and-referencing-containers--blobs
# S3's "safe characters" for keys (docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html), less the ones a
# shell reads ('$', '(', ')', '*', '!', ';'): the prefix ends up in the VM's boot script.
_PREFIX = r"[A-Za-z0-9_.=+,@~-]+(/[A-Za-z0-9_.=+,@~-]+)*"

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "SPOT_RECOVERY",
        "With CLOUD_SPOT: copy the running step's CHECKPOINT_PATH to CHECKPOINT_STORE every CHECKPOINT_INTERVAL "
        "and on a spot interruption notice, so the retried step resumes from it (`COMMAND: restore`).",
        default="false",
        example="'<boolean>'",
    ),
    Variable(
        "CHECKPOINT_PATH",
        "The folder, relative to the clone, where the training writes its checkpoints (`checkpoints/`). Required "
        "with SPOT_RECOVERY and for `COMMAND: restore`.",
        required=True,  # in restore mode; runner mode's load() requires it with SPOT_RECOVERY only
        optional_in=("runner",),
        modes=("runner", "restore"),
    ),
    Variable(
        "CHECKPOINT_STORE",
        f"Where checkpoints go: `{STORE_HELP}`. Unset on AWS: a bucket of ours per repository, tagged ours, whose "
        "objects expire after 7 days.",
        default="a bucket of ours (AWS)",
        modes=("runner", "restore"),
    ),
    Variable(
        "SPOT_ATTEMPTS",
        f"Spot launches of one step before its relaunch is on-demand (1-{MAX_ATTEMPTS}).",
        default=str(DEFAULT_ATTEMPTS),
        example="'<integer>'",
    ),
    Variable("CHECKPOINT_INTERVAL", "How often the running step's checkpoints are copied.", default=DEFAULT_INTERVAL),
    Variable(
        "STORAGE_EMULATOR_HOST", "A Cloud Storage stand-in for `gs://` checkpoints (loopback only); for tests.",
        modes=("restore",), testing=True,
    ),
)


@dataclass(frozen=True)
class StoreUrl:
    cloud: str  # aws | gcp | azure
    bucket: str  # S3/GCS bucket; Azure: the container
    prefix: str  # no leading or trailing '/'; '' = the bucket's root
    account: str = ""  # Azure storage account

    def __str__(self) -> str:
        scheme = next(s for s, c in SCHEMES.items() if c == self.cloud)
        where = f"{self.account}/{self.bucket}" if self.account else self.bucket
        return f"{scheme}://{where}" + (f"/{self.prefix}" if self.prefix else "")


@dataclass(frozen=True)
class SpotRecovery:
    checkpoint_path: str  # posix, relative to the clone, no trailing '/'
    store: StoreUrl | None  # None = the bucket of ours (AWS), named at launch from the account and repository
    attempts: int = DEFAULT_ATTEMPTS
    interval_s: int = 300


@dataclass(frozen=True)
class RestoreSettings:
    """COMMAND: restore: the newest checkpoint of this commit into CHECKPOINT_PATH."""

    checkpoint_path: str
    store: StoreUrl | None  # None = the bucket of ours: needs CLOUD: aws
    cloud: str  # the store's cloud (CHECKPOINT_STORE's scheme, else CLOUD)
    gcs_endpoint: str = ""  # STORAGE_EMULATOR_HOST (tests); '' = Cloud Storage


def parse_store(name: str, value: str) -> StoreUrl | None:
    text = check_text(name, value, max_length=512, allowed=STORE_HELP)
    if not text:
        return None
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ConfigError(name, value, f"use {STORE_HELP}")
    parts = rest.strip("/").split("/", 2 if scheme == "az" else 1)
    cloud = SCHEMES[scheme]
    account = parts.pop(0) if scheme == "az" and len(parts) > 1 else ""
    bucket = parts[0] if parts else ""
    prefix = parts[1].strip("/") if len(parts) > 1 else ""
    rules = {"s3": (_S3_BUCKET, "an S3 bucket name"), "gs": (_GCS_BUCKET, "a GCS bucket name")}
    pattern, what = rules.get(scheme, (_AZ_CONTAINER, "an Azure container name"))
    if scheme == "az" and not re.fullmatch(_AZ_ACCOUNT, account):
        raise ConfigError(name, value, "az://account/container/prefix with a storage account of 3-24 lowercase "
                          "letters and digits (a container alone does not say where the blobs are)")  # fmt: skip
    if not re.fullmatch(pattern, bucket) or ".." in bucket:
        raise ConfigError(name, value, f"{bucket!r} is not {what} (3-63 lowercase letters, digits, '-'); "
                          f"use {STORE_HELP}")  # fmt: skip
    if prefix and (not re.fullmatch(_PREFIX, prefix) or any(p in (".", "..") for p in prefix.split("/"))):
        raise ConfigError(name, value, "the prefix after the bucket: letters, digits and - _ . = + , @ ~ in "
                          "'/'-separated parts, no '.' or '..' part")  # fmt: skip
    return StoreUrl(cloud, bucket, prefix, account)


def parse_checkpoint_path(name: str, value: str) -> str:
    """A folder relative to the clone, by its text: not absolute, not through '..', never in .git."""
    text = check_text(name, value, max_length=1024, allowed="a folder relative to the clone, e.g. checkpoints/")
    if not text:
        raise ConfigError.missing(name, "the folder, relative to the clone, where the training writes checkpoints")
    norm = os.path.normpath(text.replace("\\", "/"))
    why = ""
    if text.startswith(("/", "\\")) or os.path.isabs(text):
        why = "an absolute path is refused"
    elif norm in (".", "") or norm == ".." or norm.startswith("../"):
        why = "it must name a folder inside the clone, not the clone itself or outside it"
    elif paths.has_git_part(text):
        why = "the path is inside .git, which is never read or published (.git/config holds the clone's token)"
    if why:
        raise ConfigError(name, value, f"{why}; give a folder inside the clone directory, as a relative path")
    return norm


def load_recovery(env: Mapping[str, str], *, spot: bool, cloud: str) -> SpotRecovery | None:
    """SpotRecovery for runner mode, None when SPOT_RECOVERY is off (then its companions are refused)."""

    def get(name: str) -> str:
        return env.get(name, "").strip()

    on = parse_bool("SPOT_RECOVERY", get("SPOT_RECOVERY"))
    if not on:
        given = [v.name for v in VARIABLES[1:] if get(v.name)]
        if given:
            raise ConfigError(given[0], get(given[0]), "", message=f"{given[0]} is set but SPOT_RECOVERY is not "
                              "'true': set SPOT_RECOVERY: 'true' (with CLOUD_SPOT: 'true') or remove it")  # fmt: skip
        return None
    if cloud == "kubernetes":
        raise ConfigError("SPOT_RECOVERY", get("SPOT_RECOVERY"), "", message="SPOT_RECOVERY has no meaning with "
                          "CLOUD: 'kubernetes' in this version: an evicted pod's step is not copied")  # fmt: skip
    if not spot:
        raise ConfigError("SPOT_RECOVERY", get("SPOT_RECOVERY"), "", message="SPOT_RECOVERY needs CLOUD_SPOT: 'true' "
                          "(an on-demand instance gets no interruption notice)")  # fmt: skip
    if cloud != "aws":
        raise ConfigError("SPOT_RECOVERY", get("SPOT_RECOVERY"), "", message=f"SPOT_RECOVERY is not available with "
                          f"CLOUD: '{cloud}' in this version: the VM's copy speaks S3 only (CLOUD: aws)")  # fmt: skip
    store = parse_store("CHECKPOINT_STORE", get("CHECKPOINT_STORE"))
    check_store_cloud(store, cloud, get("CHECKPOINT_STORE"))
    interval = parse_duration(
        "CHECKPOINT_INTERVAL", get("CHECKPOINT_INTERVAL"), default=DEFAULT_INTERVAL, allow_never=False,
        max_s=MAX_INTERVAL_S,
    )  # fmt: skip
    if interval is not None and interval < MIN_INTERVAL_S:
        raise ConfigError("CHECKPOINT_INTERVAL", get("CHECKPOINT_INTERVAL"), f"at least {MIN_INTERVAL_S}s")
    return SpotRecovery(
        checkpoint_path=parse_checkpoint_path("CHECKPOINT_PATH", get("CHECKPOINT_PATH")),
        store=store,
        attempts=parse_int(
            "SPOT_ATTEMPTS", get("SPOT_ATTEMPTS"), default=DEFAULT_ATTEMPTS, minimum=1, maximum=MAX_ATTEMPTS, unit=""
        ),
        interval_s=interval or 300,
    )


def check_store_cloud(store: StoreUrl | None, cloud: str, raw: str) -> None:
    if store is None and cloud != "aws":
        raise ConfigError.missing(
            "CHECKPOINT_STORE", f"on CLOUD: '{cloud}' give a store the instance's identity can write, e.g. "
            + ("gs://bucket/prefix" if cloud == "gcp" else "az://account/container/prefix")
            + " (the pipe creates its own bucket on AWS only, in this version)",
        )  # fmt: skip
    if store is not None and store.cloud != cloud:
        raise ConfigError("CHECKPOINT_STORE", raw, f"with CLOUD: '{cloud}' use a store of that cloud "
                          "(the instance's own identity writes to it)")  # fmt: skip


def load(env: Mapping[str, str]) -> RestoreSettings:
    """COMMAND: restore."""
    store = parse_store("CHECKPOINT_STORE", env.get("CHECKPOINT_STORE", "").strip())
    cloud = store.cloud if store else env.get("CLOUD", "").strip().lower() or "aws"
    if store is None and cloud != "aws":
        check_store_cloud(None, cloud, "")
    emulator = parse_endpoint(
        "STORAGE_EMULATOR_HOST", env.get("STORAGE_EMULATOR_HOST", "").strip(), example="http://127.0.0.1:9023"
    )
    return RestoreSettings(
        checkpoint_path=parse_checkpoint_path("CHECKPOINT_PATH", env.get("CHECKPOINT_PATH", "").strip()),
        store=store,
        cloud=cloud,
        gcs_endpoint=emulator,
    )

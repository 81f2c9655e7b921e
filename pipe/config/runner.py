"""Runner mode's variables (CML's `cml runner launch` options, renamed CLOUD_*) -> RunnerSettings.

Checks here are syntactic and about combinations of variables; whether a type,
GPU or region exists on a cloud is the catalog's question (pipe/providers/catalog.py).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pipe.config import clouds, machine
from pipe.config import kubernetes as kube_config
from pipe.config import spot as spot_config
from pipe.config.clouds import OPTIONS_TYPE, CloudOptions
from pipe.config.kubernetes import KubernetesOptions
from pipe.config.parsers import (
    check_text,
    decode_startup_script,
    parse_bool,
    parse_choice,
    parse_duration,
    parse_finite_duration,
    parse_int,
    parse_labels,
    parse_metadata,
    parse_positive_float,
)
from pipe.config.variables import ConfigError, Variable

CLOUDS = ("aws", "gcp", "azure", "kubernetes")
GENERIC_SIZES = ("s", "m", "l", "xl")  # CLOUD_TYPE's generic sizes (pipe/providers/catalog.py SIZES)
RUNNER_SCOPES = ("repository", "workspace")
DEFAULT_LABELS = "cml.runner"
DEFAULT_HDD_GB = 35  # CML's (TPI's) default root disk; grown at launch to what the image needs
MAX_HDD_GB = 16384  # the largest root disk any of the three clouds allows
# AWS caps user data at 16 KB and the pipe's own bootstrap shares it.
MAX_STARTUP_SCRIPT_BYTES = 8192
MAX_LIFETIME_LIMIT_S = 30 * 86400
MAX_WAIT_TIMEOUT_S = 2 * 3600
# Our tags (pipe/providers/base.py TAG_*) all start with this; users must not fake them.
RESERVED_TAG_PREFIX = "cml-"
# The runner gets one label of the pipe's own (pipe/runner/plan.py MARKER_LABEL): it counts against Bitbucket's
# limit of custom labels, so LABELS may hold one fewer.
PIPE_OWN_LABELS = 1
_NAME_PATTERN = r"[a-z]([a-z0-9-]{0,48}[a-z0-9])?"
_BASE36 = string.digits + string.ascii_lowercase

_RUNNER_SWEEP = ("runner", "sweep", "bake")
_RUNNER_BAKE = ("runner", "bake")

# Fewer seconds between ONLINE polls would only load the local stand-ins.
MIN_POLL_S = 0.05

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "CLOUD",
        "Where to start the runner: `aws`, `gcp` or `azure` (a VM), or `kubernetes` (a Job on your cluster).",
        required=True,
        modes=_RUNNER_SWEEP,
    ),
    Variable(
        "CLOUD_REGION",
        "Generic region `us-east`, `us-west`, `eu-west`, `eu-north`, or a native region or zone "
        "(`us-east-1`, `europe-west4-a`, `westeurope`).",
        default="us-west",
        modes=_RUNNER_SWEEP,
    ),
    Variable(
        "CLOUD_TYPE",
        "Generic machine size `s`, `m`, `l`, `xl`, or a native type (`g4dn.xlarge`, `n1-standard-8`, "
        "`Standard_NC4as_T4_v3`).",
        default="m",
        modes=_RUNNER_BAKE,
    ),
    Variable(
        "CLOUD_GPU", "GPU: `t4`, `a10g`, `l4`, `a100`, `h100`, `v100`, or a native accelerator name.", default="none",
        modes=_RUNNER_BAKE,
    ),
    Variable("CLOUD_SPOT", "Use a spot (preemptible) instance.", default="false", example="'<boolean>'"),
    Variable(
        "CLOUD_SPOT_PRICE",
        "Maximum spot price in USD per hour; unset (or CML's -1) means up to the on-demand price. Not on GCP.",
        default="on-demand price",
    ),
    Variable(
        "CLOUD_SPOT_FALLBACK",
        "What to do when no zone has spot capacity (at or below CLOUD_SPOT_PRICE): `on-demand` launches an "
        "on-demand instance, `none` fails. A price cap is never exceeded unless you set `on-demand`.",
        default="on-demand without CLOUD_SPOT_PRICE, none with it",
    ),
    Variable(
        "CLOUD_HDD_SIZE",
        "Root disk size in GB; at least what the image needs (GPU images need more than 35).",
        default=f"the larger of {DEFAULT_HDD_GB} and the image's own size",
        example="'<integer>'",
    ),
    Variable(
        "CLOUD_IMAGE",
        "Boot image: AWS AMI id or name pattern, GCP `project/family` or image link, Azure "
        "`publisher:offer:sku:version` or a managed image's resource id. Unset: an image of ours baked "
        "(`COMMAND: bake`) from the provider's Ubuntu image for the current recipe if there is one, else that "
        "Ubuntu image; `stock`: always the Ubuntu image. "
        "With `COMMAND: bake`: the base image to bake from.",
        default="a baked image of ours, else the provider's Ubuntu image",
        modes=_RUNNER_BAKE,
    ),
    Variable(
        "CLOUD_STARTUP_SCRIPT",
        "Shell script run on the instance before the runner starts, as text or base64 (as in CML).",
        private=True,
    ),
    Variable(
        "CLOUD_PERMISSION_SET",
        "The instance's own cloud identity: AWS instance profile ARN or name, "
        "GCP `service-account-email[,scopes=...]`, Azure user-assigned identity resource ids (comma-separated).",
    ),
    Variable("CLOUD_METADATA", "Extra tags for the instance: `key=value` pairs, comma-separated."),
    Variable(
        "IDLE_TIMEOUT",
        "Terminate the instance after it has been idle this long: `300`, `30s`, `5min`, `2h`, or `never` "
        "(CML's `-1` and `0` also mean never).",
        default="5min",
    ),
    Variable("MAX_LIFETIME", "Terminate the instance this long after it started, busy or not.", default="12h"),
    Variable(
        "REUSE", "Start nothing if an online runner already has all the labels.", default="false", example="'<boolean>'"
    ),
    Variable(
        "REUSE_IDLE",
        "Start nothing if an online runner with all the labels is idle (not running a step).",
        default="false",
        example="'<boolean>'",
    ),
    Variable("SINGLE", "Terminate the instance after its first step.", default="false", example="'<boolean>'"),
    Variable(
        "LABELS",
        "Comma-separated runner labels: lowercase letters and digits in dot-separated parts (`cml.gpu`, not "
        "`cml-gpu`), at most 9 (the pipe adds its own marker label), none starting with `linux.`, `bitbucket.` or "
        "`atlassian.`; `self.hosted` and `linux` are always added.",
        default=DEFAULT_LABELS,
    ),
    Variable(
        "ALLOW_SMALL",
        "Launch a native CLOUD_TYPE even when it has less memory than the runner's steps' `size:` needs (a warning "
        "instead of the refusal).",
        default="false",
        example="'<boolean>'",
    ),
    Variable("NAME", "Runner and instance name: lowercase letters, digits, `-`.", default="cml-<10 random characters>"),
    Variable("WAIT_TIMEOUT", "How long to wait for the runner to come online.", default="10min"),
    Variable(
        "RUNNER_SCOPE",
        "`repository` registers a repository runner; `workspace` a workspace runner (needs a workspace access token).",
        default="repository",
    ),
    Variable(
        "CML_RUNNER_POLL_SECONDS",
        "Seconds between the ONLINE polls, instead of the rate-limited cadence; for tests and the demo.",
        modes=_RUNNER_BAKE,
        testing=True,
    ),
)


@dataclass(frozen=True)
class RunnerSettings:
    cloud: str  # aws | gcp | azure | kubernetes
    options: CloudOptions  # the cloud's own options: pipe/config/clouds.py, pipe/config/kubernetes.py
    region: str = "us-west"  # as given: generic or native
    instance_type: str = "m"  # generic s|m|l|xl or native
    gpu: str = ""  # "" = none; generic (t4, a10g, ...) or native
    spot: bool = False
    spot_price: float | None = None  # None = up to on-demand
    spot_fallback: bool = True  # CLOUD_SPOT_FALLBACK: on-demand (True) or none
    hdd_size_gb: int | None = None  # None = CLOUD_HDD_SIZE not given: DEFAULT_HDD_GB, or the image's size if larger
    image: str = ""  # "" = a baked image of ours for the current recipe, else the provider's default
    image_stock: bool = False  # CLOUD_IMAGE: stock: the provider's default, never a baked image
    startup_script: str = field(default="", repr=False)  # decoded text; user data, never in a log line
    permission_set: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    idle_timeout_s: int | None = 300  # None = never
    max_lifetime_s: int = 12 * 3600
    reuse: bool = False
    reuse_idle: bool = False
    single: bool = False
    labels: tuple[str, ...] = ("self.hosted", "linux", DEFAULT_LABELS)
    name: str = ""
    name_given: bool = False  # NAME was set: the launch must check it is free on every page of the listing
    wait_timeout_s: int = 600
    runner_scope: Literal["repository", "workspace"] = "repository"
    poll_every_s: float | None = None  # CML_RUNNER_POLL_SECONDS (tests); None = the rate-limited cadence
    allow_small: bool = False  # ALLOW_SMALL, with a native CLOUD_TYPE: a machine smaller than a step is a warning
    recovery: spot_config.SpotRecovery | None = None  # SPOT_RECOVERY and its companions (pipe/config/spot.py)

    def __post_init__(self) -> None:
        if OPTIONS_TYPE[self.cloud] is not type(self.options):
            raise TypeError(f"CLOUD {self.cloud} takes {OPTIONS_TYPE[self.cloud].__name__}, not {self.options!r}")

    @property
    def kubernetes(self) -> KubernetesOptions | None:
        return self.options if isinstance(self.options, KubernetesOptions) else None


def random_name() -> str:
    """cml- plus 10 base36 characters, as CML's randid()."""
    return "cml-" + "".join(secrets.choice(_BASE36) for _ in range(10))


def _exclusive(reuse: bool, reuse_idle: bool, single: bool) -> None:
    """CML's --reuse, --reuse-idle and --single conflict pairwise."""
    pairs = (
        ("REUSE", reuse, "REUSE_IDLE", reuse_idle),
        ("REUSE", reuse, "SINGLE", single),
        ("REUSE_IDLE", reuse_idle, "SINGLE", single),
    )
    for first, a, second, b in pairs:
        if a and b:
            raise ConfigError.conflict(first, second, "choose one of REUSE, REUSE_IDLE and SINGLE")


def load(env: Mapping[str, str]) -> RunnerSettings:
    def get(name: str) -> str:
        return env.get(name, "").strip()

    if not get("CLOUD"):
        raise ConfigError.missing("CLOUD", "where to start the runner: aws, gcp, azure or kubernetes")
    cloud = parse_choice("CLOUD", get("CLOUD"), CLOUDS, "")
    if cloud == "kubernetes":
        kube_config.refuse_vm_options(env)
    else:
        kube_config.refuse_on_other_clouds(env)
    spot = parse_bool("CLOUD_SPOT", get("CLOUD_SPOT"))
    reuse = parse_bool("REUSE", get("REUSE"))
    reuse_idle = parse_bool("REUSE_IDLE", get("REUSE_IDLE"))
    single = parse_bool("SINGLE", get("SINGLE"))
    _exclusive(reuse, reuse_idle, single)

    idle = parse_duration(
        "IDLE_TIMEOUT", get("IDLE_TIMEOUT"), default="5min", allow_never=True, max_s=MAX_LIFETIME_LIMIT_S
    )
    lifetime = parse_finite_duration("MAX_LIFETIME", get("MAX_LIFETIME"), default="12h", max_s=MAX_LIFETIME_LIMIT_S)
    if idle is not None and lifetime <= idle:
        raise ConfigError(
            "MAX_LIFETIME",
            get("MAX_LIFETIME") or "12h",
            f"must be longer than IDLE_TIMEOUT ({idle}s), or the idle timeout could never fire",
        )
    wait = parse_finite_duration("WAIT_TIMEOUT", get("WAIT_TIMEOUT"), default="10min", max_s=MAX_WAIT_TIMEOUT_S)
    gpu = machine.gpu(get("CLOUD_GPU"))
    kubernetes = kube_config.load(env, gpu=bool(gpu)) if cloud == "kubernetes" else None

    name = check_text(
        "NAME",
        get("NAME"),
        max_length=50,
        pattern=_NAME_PATTERN,
        allowed="1-50 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
    )
    region = check_text(
        "CLOUD_REGION",
        get("CLOUD_REGION").lower() or "us-west",
        max_length=40,
        pattern=r"[a-z][a-z0-9-]*[a-z0-9]",
        allowed="us-east, us-west, eu-west, eu-north, or a native region or zone such as us-east-1 or westeurope",
    )
    instance_type = check_text(
        "CLOUD_TYPE",
        get("CLOUD_TYPE") or "m",
        max_length=64,
        pattern=r"[A-Za-z0-9][A-Za-z0-9._+*-]*",
        allowed="s, m, l, xl, or a native machine type such as g4dn.xlarge",
    )
    vm_options = clouds.load(env, cloud)  # every VM cloud's, whichever cloud is chosen
    price = machine.spot_price(env, cloud, spot)
    return RunnerSettings(
        cloud=cloud,
        options=kubernetes or vm_options[cloud],
        region=kubernetes.namespace if kubernetes else region,
        instance_type=instance_type,
        gpu=gpu,
        spot=spot,
        spot_price=price,
        spot_fallback=machine.spot_fallback(env, spot, price),
        hdd_size_gb=parse_int(
            "CLOUD_HDD_SIZE", get("CLOUD_HDD_SIZE"), default=DEFAULT_HDD_GB, minimum=10, maximum=MAX_HDD_GB, unit="GB"
        )
        if get("CLOUD_HDD_SIZE")
        else None,
        image=machine.image(get("CLOUD_IMAGE"), cloud),
        image_stock=machine.is_stock(get("CLOUD_IMAGE")),
        startup_script=decode_startup_script(
            "CLOUD_STARTUP_SCRIPT", env.get("CLOUD_STARTUP_SCRIPT", ""), MAX_STARTUP_SCRIPT_BYTES
        ),
        permission_set=machine.permission_set(get("CLOUD_PERMISSION_SET"), cloud),
        metadata=parse_metadata("CLOUD_METADATA", env.get("CLOUD_METADATA", ""), RESERVED_TAG_PREFIX),
        idle_timeout_s=idle,
        max_lifetime_s=lifetime,
        reuse=reuse,
        reuse_idle=reuse_idle,
        single=single,
        labels=parse_labels("LABELS", env.get("LABELS", ""), DEFAULT_LABELS, pipe_labels=PIPE_OWN_LABELS),
        name=name or random_name(),
        name_given=bool(name),
        wait_timeout_s=wait,
        runner_scope="workspace"
        if parse_choice("RUNNER_SCOPE", get("RUNNER_SCOPE"), RUNNER_SCOPES, "repository") == "workspace"
        else "repository",
        poll_every_s=_poll_every(get("CML_RUNNER_POLL_SECONDS")),
        allow_small=parse_bool("ALLOW_SMALL", get("ALLOW_SMALL")) and instance_type not in GENERIC_SIZES,
        recovery=spot_config.load_recovery(env, spot=spot, cloud=cloud),
    )


def _poll_every(value: str) -> float | None:
    if not value:
        return None
    return max(MIN_POLL_S, parse_positive_float("CML_RUNNER_POLL_SECONDS", value, "a number of seconds above 0"))


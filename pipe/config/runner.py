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

from pipe.config import kubernetes as kube_config
from pipe.config.endpoints import aws_service_endpoints, azure_authority, azure_ca_bundle, endpoint
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

_RUNNER = ("runner",)
_RUNNER_SWEEP = ("runner", "sweep")

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
    ),
    Variable(
        "CLOUD_GPU", "GPU: `t4`, `a10g`, `l4`, `a100`, `h100`, `v100`, or a native accelerator name.", default="none"
    ),
    Variable("CLOUD_SPOT", "Use a spot (preemptible) instance.", default="false", example="'<boolean>'"),
    Variable(
        "CLOUD_SPOT_PRICE",
        "Maximum spot price in USD per hour; unset (or CML's -1) means up to the on-demand price. Not on GCP.",
        default="on-demand price",
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
        "`publisher:offer:sku:version`.",
        default="the provider's Ubuntu image",
    ),
    Variable(
        "CLOUD_STARTUP_SCRIPT",
        "Shell script run on the instance before the runner starts, as text or base64 (as in CML).",
    ),
    Variable(
        "CLOUD_PERMISSION_SET",
        "The instance's own cloud identity: AWS instance profile ARN or name, "
        "GCP `service-account-email[,scopes=...]`, Azure user-assigned identity resource ids (comma-separated).",
    ),
    Variable(
        "CLOUD_AWS_SUBNET",
        "AWS subnet id (`subnet-...`) to start the instance in; its zone is the only one tried. Default: a default "
        "subnet of the region's default VPC. The instance gets a public IP only if the subnet's way out is an "
        "internet gateway.",
    ),
    Variable(
        "CLOUD_AWS_SECURITY_GROUP",
        "AWS security group id (`sg-...`) or name for the instance. Default: `cml-runner-pipe`, created once per "
        "VPC with no inbound rule.",
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
    Variable("NAME", "Runner and instance name: lowercase letters, digits, `-`.", default="cml-<10 random characters>"),
    Variable("WAIT_TIMEOUT", "How long to wait for the runner to come online.", default="10min"),
    Variable(
        "RUNNER_SCOPE",
        "`repository` registers a repository runner; `workspace` a workspace runner (needs a workspace access token).",
        default="repository",
    ),
    # Cloud credentials and network options, read by pipe/providers/<cloud>.py. Declared here for the README
    # and so that secret ones are masked in all output.
    Variable("AWS_ACCESS_KEY_ID", "AWS access key id.", modes=_RUNNER_SWEEP, example="$AWS_ACCESS_KEY_ID"),
    Variable(
        "AWS_SECRET_ACCESS_KEY",
        "AWS secret access key.",
        secret=True,
        modes=_RUNNER_SWEEP,
        example="$AWS_SECRET_ACCESS_KEY",
    ),
    Variable("AWS_SESSION_TOKEN", "AWS session token, for temporary keys.", secret=True, modes=_RUNNER_SWEEP),
    Variable(
        "AWS_OIDC_ROLE_ARN",
        "AWS IAM role to assume with the step's OIDC token (`oidc: true`) instead of access keys.",
        modes=_RUNNER_SWEEP,
    ),
    Variable(
        "GCP_CREDENTIALS",
        "GCP service account key JSON (raw or base64). `GOOGLE_CREDENTIALS` is accepted too.",
        secret=True,
        multiline=True,
        modes=_RUNNER_SWEEP,
        example="$GCP_CREDENTIALS",
    ),
    Variable("GOOGLE_CREDENTIALS", "Same as GCP_CREDENTIALS.", secret=True, multiline=True, modes=_RUNNER_SWEEP),
    Variable(
        "GOOGLE_APPLICATION_CREDENTIALS", "Path to a GCP key file, instead of GCP_CREDENTIALS.", modes=_RUNNER_SWEEP
    ),
    Variable(
        "GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GCP workload identity provider (`projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/"
        "<provider>`) for keyless auth with the step's OIDC token (`oidc: true`).",
        modes=_RUNNER_SWEEP,
    ),
    Variable("GCP_SERVICE_ACCOUNT", "GCP service account to impersonate with workload identity.", modes=_RUNNER_SWEEP),
    Variable("GCP_PROJECT", "GCP project id.", default="the credentials' project", modes=_RUNNER_SWEEP),
    Variable("GCP_NETWORK", "GCP VPC network for the instance.", default="default", modes=_RUNNER_SWEEP),
    Variable("GCP_SUBNETWORK", "GCP subnetwork for the instance.", modes=_RUNNER_SWEEP),
    Variable(
        "GCP_EXTERNAL_IP",
        "Give the GCP instance an ephemeral external IP, its way to Bitbucket (inbound stays closed: a firewall rule "
        "of the pipe's denies all ingress to the runners' network tag). `false` for networks with Cloud NAT, which "
        "the pipe then checks for.",
        default="true",
        modes=_RUNNER_SWEEP,
        example="'<boolean>'",
    ),
    Variable("AZURE_CLIENT_ID", "Azure service principal (app) id.", modes=_RUNNER_SWEEP, example="$AZURE_CLIENT_ID"),
    Variable(
        "AZURE_CLIENT_SECRET",
        "Azure service principal secret; leave unset to sign in with the step's OIDC token (`oidc: true`).",
        secret=True,
        modes=_RUNNER_SWEEP,
        example="$AZURE_CLIENT_SECRET",
    ),
    Variable("AZURE_TENANT_ID", "Azure tenant id.", modes=_RUNNER_SWEEP, example="$AZURE_TENANT_ID"),
    Variable("AZURE_SUBSCRIPTION_ID", "Azure subscription id.", modes=_RUNNER_SWEEP, example="$AZURE_SUBSCRIPTION_ID"),
    Variable(
        "AZURE_PUBLIC_IP",
        "Give the Azure instance a public IP.",
        default="true",
        modes=_RUNNER_SWEEP,
        example="'<boolean>'",
    ),
    Variable("AWS_ENDPOINT_URL", "AWS API endpoint override.", modes=_RUNNER_SWEEP, testing=True),
    Variable("GCP_COMPUTE_ENDPOINT", "GCP Compute API endpoint override.", modes=_RUNNER_SWEEP, testing=True),
    Variable(
        "AZURE_RESOURCE_MANAGER_ENDPOINT",
        "Azure Resource Manager endpoint override.",
        modes=_RUNNER_SWEEP,
        testing=True,
    ),
    Variable("AZURE_AUTHORITY_HOST", "Azure sign-in host override.", modes=_RUNNER_SWEEP, testing=True),
    Variable("AZURE_CA_BUNDLE", "CA bundle to trust for the Azure endpoints.", modes=_RUNNER_SWEEP, testing=True),
)


@dataclass(frozen=True)
class RunnerSettings:
    cloud: str  # aws | gcp | azure
    region: str = "us-west"  # as given: generic or native
    instance_type: str = "m"  # generic s|m|l|xl or native
    gpu: str = ""  # "" = none; generic (t4, a10g, ...) or native
    spot: bool = False
    spot_price: float | None = None  # None = up to on-demand
    hdd_size_gb: int | None = None  # None = CLOUD_HDD_SIZE not given: DEFAULT_HDD_GB, or the image's size if larger
    image: str = ""  # "" = the provider's default
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
    aws_oidc_role_arn: str = ""
    gcp_project: str = ""
    aws_endpoint_url: str = ""
    gcp_compute_endpoint: str = ""
    azure_resource_manager_endpoint: str = ""
    azure_authority_host: str = ""
    azure_ca_bundle: str = ""  # only with an overridden loopback endpoint
    gcp_external_ip: bool = True
    gcp_network: str = ""  # "" = default
    gcp_subnetwork: str = ""
    azure_public_ip: bool = True
    aws_subnet: str = ""
    aws_security_group: str = ""
    kubernetes: kube_config.KubernetesSettings | None = None  # CLOUD: kubernetes only


def random_name() -> str:
    """cml- plus 10 base36 characters, as CML's randid()."""
    return "cml-" + "".join(secrets.choice(_BASE36) for _ in range(10))


def _spot_price(env: Mapping[str, str], cloud: str, spot: bool) -> float | None:
    raw = env.get("CLOUD_SPOT_PRICE", "").strip()
    if not raw or raw == "-1":
        return None
    price = parse_positive_float(
        "CLOUD_SPOT_PRICE", raw, "a price in USD per hour greater than 0 (e.g. 0.5), or -1 for the on-demand price"
    )
    if cloud == "gcp":
        raise ConfigError("CLOUD_SPOT_PRICE", raw, "GCP spot VMs have no bidding price; leave it unset or -1")
    if not spot:
        raise ConfigError("CLOUD_SPOT_PRICE", raw, "only with CLOUD_SPOT: 'true'")
    return price


def _gpu(value: str) -> str:
    gpu = check_text(
        "CLOUD_GPU",
        value.lower(),
        max_length=64,
        pattern=r"[a-z0-9][a-z0-9._-]*",
        allowed="a GPU such as t4, a10g, l4, a100, h100, v100, or a native accelerator name",
    )
    if gpu in ("nogpu", "none"):
        return ""
    return "v100" if gpu == "tesla" else gpu  # CML maps 'tesla' to v100


def _image(value: str, cloud: str) -> str:
    image = check_text("CLOUD_IMAGE", value, max_length=1024)
    if not image:
        return ""
    if cloud == "azure" and not (len(image.split(":")) == 4 or image.startswith("/subscriptions/")):
        raise ConfigError("CLOUD_IMAGE", value, "on Azure, publisher:offer:sku:version or an image resource id")
    if cloud == "gcp" and "/" not in image:
        raise ConfigError("CLOUD_IMAGE", value, "on GCP, project/family or an image link")
    return image


def _permission_set(value: str, cloud: str) -> str:
    if cloud == "kubernetes":
        return ""  # refused with its own line before (pipe.config.kubernetes.NOT_ON_KUBERNETES)
    allowed = {
        "aws": (
            r"arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+|[\w+=,.@-]{1,128}",
            "on AWS, an instance profile ARN or name",
        ),
        "gcp": (r"[^@\s,]+@[^@\s,]+(,scopes=[^\s]+)?", "on GCP, service-account-email[,scopes=a,b]"),
        "azure": (
            r"/subscriptions/[^\s,]+(,/subscriptions/[^\s,]+)*",
            "on Azure, comma-separated user-assigned identity resource ids (/subscriptions/...)",
        ),
    }
    pattern, hint = allowed[cloud]
    return check_text("CLOUD_PERMISSION_SET", value, max_length=2048, pattern=pattern, allowed=hint)


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
    aws_service_endpoints(env)
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
    gpu = _gpu(get("CLOUD_GPU"))
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
    return RunnerSettings(
        cloud=cloud,
        region=kubernetes.namespace if kubernetes else region,
        instance_type=instance_type,
        gpu=gpu,
        spot=spot,
        spot_price=_spot_price(env, cloud, spot),
        hdd_size_gb=parse_int(
            "CLOUD_HDD_SIZE", get("CLOUD_HDD_SIZE"), default=DEFAULT_HDD_GB, minimum=10, maximum=MAX_HDD_GB, unit="GB"
        )
        if get("CLOUD_HDD_SIZE")
        else None,
        image=_image(get("CLOUD_IMAGE"), cloud),
        startup_script=decode_startup_script(
            "CLOUD_STARTUP_SCRIPT", env.get("CLOUD_STARTUP_SCRIPT", ""), MAX_STARTUP_SCRIPT_BYTES
        ),
        permission_set=_permission_set(get("CLOUD_PERMISSION_SET"), cloud),
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
        aws_oidc_role_arn=check_text(
            "AWS_OIDC_ROLE_ARN",
            get("AWS_OIDC_ROLE_ARN"),
            max_length=2048,
            pattern=r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+",
            allowed="an IAM role ARN such as arn:aws:iam::123456789012:role/cml-runner",
        ),
        gcp_project=check_text(
            "GCP_PROJECT",
            get("GCP_PROJECT"),
            max_length=30,
            pattern=r"[a-z][a-z0-9-]{4,28}[a-z0-9]",
            allowed="a GCP project id: 6-30 lowercase letters, digits and '-'",
        ),
        aws_endpoint_url=endpoint("AWS_ENDPOINT_URL", get("AWS_ENDPOINT_URL")),
        gcp_compute_endpoint=endpoint("GCP_COMPUTE_ENDPOINT", get("GCP_COMPUTE_ENDPOINT")),
        azure_resource_manager_endpoint=endpoint(
            "AZURE_RESOURCE_MANAGER_ENDPOINT", get("AZURE_RESOURCE_MANAGER_ENDPOINT")
        ),
        azure_authority_host=azure_authority(get("AZURE_AUTHORITY_HOST")),
        azure_ca_bundle=azure_ca_bundle(env),
        gcp_external_ip=parse_bool("GCP_EXTERNAL_IP", get("GCP_EXTERNAL_IP"), default=True),
        gcp_network=check_text(
            "GCP_NETWORK",
            get("GCP_NETWORK"),
            max_length=300,
            pattern=r"https://\S+|[a-z][-a-z0-9/]*",
            allowed="a VPC network name such as default, or its link",
        ),
        gcp_subnetwork=check_text(
            "GCP_SUBNETWORK",
            get("GCP_SUBNETWORK"),
            max_length=300,
            pattern=r"https://\S+|[a-z][-a-z0-9/]*",
            allowed="a subnetwork name, or its link",
        ),
        azure_public_ip=parse_bool("AZURE_PUBLIC_IP", get("AZURE_PUBLIC_IP"), default=True),
        aws_subnet=_aws_only(
            "CLOUD_AWS_SUBNET",
            get("CLOUD_AWS_SUBNET"),
            cloud,
            r"subnet-[0-9a-f]{8,17}",
            "a subnet id like subnet-0abc1234",
        ),
        aws_security_group=_aws_only(
            "CLOUD_AWS_SECURITY_GROUP",
            get("CLOUD_AWS_SECURITY_GROUP"),
            cloud,
            r"sg-[0-9a-f]{8,17}|[\w .:/()#,@\[\]+=&;{}!$*-]{1,255}",
            "a security group id like sg-0abc1234, or a group name",
        ),
        kubernetes=kubernetes,
    )


def _aws_only(name: str, value: str, cloud: str, pattern: str, allowed: str) -> str:
    text = check_text(name, value, max_length=255, pattern=pattern, allowed=allowed)
    if text and cloud != "aws":
        raise ConfigError(name, value, "only with CLOUD: 'aws'")
    return text

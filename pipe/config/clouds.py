"""Each VM cloud's variables -> its options (AwsOptions, GcpOptions, AzureOptions), and its credentials.

Options are parsed here, once: pipe/providers/<cloud>/ takes them typed and never reads the environment for
them. Credentials are the one exception, kept as given: turning a key or an OIDC token into SDK credentials
needs that cloud's SDK, so cloud_credentials() hands pipe/providers/<cloud>/credentials.py the cloud's
credential variables and nothing else. CLOUD `kubernetes` has its own module (pipe/config/kubernetes.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipe.config.endpoints import aws_service_endpoints, azure_authority, azure_ca_bundle, endpoint
from pipe.config.kubernetes import KubernetesOptions
from pipe.config.parsers import check_text, parse_bool
from pipe.config.variables import ConfigError, Variable

_RUNNER_SWEEP = ("runner", "sweep", "bake")
OIDC_TOKEN = "BITBUCKET_STEP_OIDC_TOKEN"  # noqa: S105  # a variable's name; declared with the pipeline's context (pipe/config/common.py)

VARIABLES: tuple[Variable, ...] = (
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
    Variable("GOOGLE_CLOUD_PROJECT", "Same as GCP_PROJECT (Google's own name for it).", modes=_RUNNER_SWEEP),
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

# What each cloud signs in with, read only by pipe/providers/<cloud>/credentials.py. AWS's access keys are not
# among them: boto3 reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (and AWS_ENDPOINT_URL*)
# from the process environment itself, its standard credential chain.
CREDENTIAL_VARIABLES: dict[str, tuple[str, ...]] = {
    "aws": (OIDC_TOKEN,),
    "gcp": (
        "GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GCP_SERVICE_ACCOUNT",
        "GCP_CREDENTIALS",
        "GOOGLE_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        OIDC_TOKEN,
    ),
    "azure": ("AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", OIDC_TOKEN),
    "kubernetes": (),  # KUBE_CONFIG and KUBECONFIG are parsed with the options (pipe/config/kubernetes.py)
}
_NETWORK_NAME = r"https://\S+|[a-z][-a-z0-9/]*"


@dataclass(frozen=True)
class AwsOptions:
    subnet: str = ""  # CLOUD_AWS_SUBNET; "" = the default subnet of each zone
    security_group: str = ""  # CLOUD_AWS_SECURITY_GROUP; "" = the pipe's shared group
    oidc_role_arn: str = ""  # AWS_OIDC_ROLE_ARN: assumed with the step's OIDC token instead of access keys
    # AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_<SERVICE>) are checked below and applied by boto3 itself.


@dataclass(frozen=True)
class GcpOptions:
    project: str = ""  # GCP_PROJECT, else GOOGLE_CLOUD_PROJECT; "" = the credentials' project
    network: str = ""  # "" = default
    subnetwork: str = ""
    external_ip: bool = True  # GCP_EXTERNAL_IP
    compute_endpoint: str = ""  # GCP_COMPUTE_ENDPOINT: tests and the demo (anonymous credentials)


@dataclass(frozen=True)
class AzureOptions:
    public_ip: bool = True  # AZURE_PUBLIC_IP
    resource_manager_endpoint: str = ""  # tests and the demo
    authority_host: str = ""
    ca_bundle: str = ""  # only with an overridden loopback endpoint (pipe/config/endpoints.py)


# The chosen cloud's options in RunnerSettings: one of these, by CLOUD.
CloudOptions = AwsOptions | GcpOptions | AzureOptions | KubernetesOptions
OPTIONS_TYPE: dict[str, type[CloudOptions]] = {
    "aws": AwsOptions,
    "gcp": GcpOptions,
    "azure": AzureOptions,
    "kubernetes": KubernetesOptions,
}


@dataclass(frozen=True)
class CloudCredentials:
    """The cloud's credential variables as the step gave them (CREDENTIAL_VARIABLES), for its credentials.py."""

    variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    session_name: str = "cml-runner-local"  # names the cloud session the pipe opens (AWS RoleSessionName)

    def get(self, name: str) -> str:
        return self.variables.get(name, "")


def cloud_credentials(env: Mapping[str, str], cloud: str, *, build_number: str = "") -> CloudCredentials:
    """Only the cloud's credential variables: a provider cannot read an option from them by mistake."""
    names = CREDENTIAL_VARIABLES.get(cloud, ())
    given = {name: env[name] for name in names if env.get(name, "")}
    return CloudCredentials(given, f"cml-runner-{build_number or 'local'}")


def load_aws(env: Mapping[str, str], cloud: str) -> AwsOptions:
    aws_service_endpoints(env)
    endpoint("AWS_ENDPOINT_URL", env.get("AWS_ENDPOINT_URL", "").strip())
    return AwsOptions(
        subnet=_aws_only(env, "CLOUD_AWS_SUBNET", cloud, r"subnet-[0-9a-f]{8,17}", "a subnet id like subnet-0abc1234"),
        security_group=_aws_only(
            env,
            "CLOUD_AWS_SECURITY_GROUP",
            cloud,
            r"sg-[0-9a-f]{8,17}|[\w .:/()#,@\[\]+=&;{}!$*-]{1,255}",
            "a security group id like sg-0abc1234, or a group name",
        ),
        oidc_role_arn=check_text(
            "AWS_OIDC_ROLE_ARN",
            _get(env, "AWS_OIDC_ROLE_ARN"),
            max_length=2048,
            pattern=r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+",
            allowed="an IAM role ARN such as arn:aws:iam::123456789012:role/cml-runner",
        ),
    )


def load_gcp(env: Mapping[str, str]) -> GcpOptions:
    project = _gcp_project(env, "GCP_PROJECT") or _gcp_project(env, "GOOGLE_CLOUD_PROJECT")
    return GcpOptions(
        project=project,
        network=check_text(
            "GCP_NETWORK",
            _get(env, "GCP_NETWORK"),
            max_length=300,
            pattern=_NETWORK_NAME,
            allowed="a VPC network name such as default, or its link",
        ),
        subnetwork=check_text(
            "GCP_SUBNETWORK",
            _get(env, "GCP_SUBNETWORK"),
            max_length=300,
            pattern=_NETWORK_NAME,
            allowed="a subnetwork name, or its link",
        ),
        external_ip=parse_bool("GCP_EXTERNAL_IP", _get(env, "GCP_EXTERNAL_IP"), default=True),
        compute_endpoint=endpoint("GCP_COMPUTE_ENDPOINT", _get(env, "GCP_COMPUTE_ENDPOINT")),
    )


def load_azure(env: Mapping[str, str]) -> AzureOptions:
    return AzureOptions(
        public_ip=parse_bool("AZURE_PUBLIC_IP", _get(env, "AZURE_PUBLIC_IP"), default=True),
        resource_manager_endpoint=endpoint(
            "AZURE_RESOURCE_MANAGER_ENDPOINT", _get(env, "AZURE_RESOURCE_MANAGER_ENDPOINT")
        ),
        authority_host=azure_authority(_get(env, "AZURE_AUTHORITY_HOST")),
        ca_bundle=azure_ca_bundle(env),
    )


def load(env: Mapping[str, str], cloud: str) -> dict[str, AwsOptions | GcpOptions | AzureOptions]:
    """Each VM cloud's options, by cloud (`kubernetes` has its own: pipe/config/kubernetes.py). All are checked,
    whichever cloud is chosen: a malformed value is refused rather than kept for a later run on that cloud."""
    return {"aws": load_aws(env, cloud), "gcp": load_gcp(env), "azure": load_azure(env)}


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _gcp_project(env: Mapping[str, str], name: str) -> str:
    return check_text(
        name,
        _get(env, name),
        max_length=30,
        pattern=r"[a-z][a-z0-9-]{4,28}[a-z0-9]",
        allowed="a GCP project id: 6-30 lowercase letters, digits and '-'",
    )


def _aws_only(env: Mapping[str, str], name: str, cloud: str, pattern: str, allowed: str) -> str:
    text = check_text(name, _get(env, name), max_length=255, pattern=pattern, allowed=allowed)
    if text and cloud != "aws":
        raise ConfigError(name, _get(env, name), "only with CLOUD: 'aws'")
    return text

"""CLOUD: kubernetes variables -> KubernetesOptions (the cluster, the namespace and where the pod may run).

Credentials, in this order: KUBE_CONFIG (a kubeconfig's text, raw YAML or base64: the variable Atlassian's
own kubectl-run pipe takes), KUBECONFIG (a path to one), else the in-cluster service account of the pod the
step runs in. Placement: CLOUD_KUBERNETES_NODE_SELECTOR (`key=value,...`, as CML's
--cloud-kubernetes-node-selector) and CLOUD_KUBERNETES_TOLERATIONS in `kubectl taint` syntax
(`key=value:Effect`, `key:Effect`, `key=value` or `key`), so a toleration reads like the taint it tolerates.
Cloud options that mean nothing on a cluster (CLOUD_REGION, CLOUD_SPOT, CLOUD_IMAGE, disk and startup script)
are refused with one line each, rather than silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from pipe.config.parsers import check_text
from pipe.config.variables import ConfigError, Variable

_RUNNER_SWEEP = ("runner", "sweep")
DEFAULT_NAMESPACE = "default"
DEFAULT_DIND_IMAGE = "docker:dind"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# Label keys and values as the API server checks them (k8s.io/apimachinery/pkg/util/validation).
_LABEL_KEY = (
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?"
_NAMESPACE = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_IMAGE = r"[\w][\w.\-/:@]{0,254}"
# Variables of the VM clouds that a pod has no use for, and why.
NOT_ON_KUBERNETES = {
    "CLOUD_REGION": "the cluster in KUBE_CONFIG decides where; set KUBERNETES_NAMESPACE instead",
    "CLOUD_SPOT": "spot capacity is a node pool's property; select such nodes with CLOUD_KUBERNETES_NODE_SELECTOR",
    "CLOUD_SPOT_PRICE": "spot capacity is a node pool's property; see CLOUD_SPOT",
    "CLOUD_SPOT_FALLBACK": "spot capacity is a node pool's property; see CLOUD_SPOT",
    "CLOUD_IMAGE": "the pod runs Atlassian's runner image; KUBERNETES_DIND_IMAGE picks the Docker-in-Docker image",
    "CLOUD_HDD_SIZE": "the pod's disk is the node's ephemeral storage",
    "CLOUD_STARTUP_SCRIPT": "there is no VM to run it on",
    "CLOUD_PERMISSION_SET": "the pod runs without a service account token",
}

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "KUBE_CONFIG",
        "CLOUD `kubernetes`: a kubeconfig's text, raw or base64 (as for Atlassian's kubectl-run pipe). Its user "
        "needs the Role in the README.",
        secret=True,
        multiline=True,  # a kubeconfig is YAML over many lines (like GCP_CREDENTIALS' JSON), not one token
        modes=_RUNNER_SWEEP,
        example="$KUBE_CONFIG",
    ),
    Variable(
        "KUBECONFIG",
        "CLOUD `kubernetes`: path to a kubeconfig file, instead of KUBE_CONFIG. With neither, the step's own "
        "in-cluster service account is used.",
        modes=_RUNNER_SWEEP,
    ),
    Variable("KUBERNETES_NAMESPACE", "CLOUD `kubernetes`: the namespace of the runner's Job.", default="default",
             modes=_RUNNER_SWEEP),
    Variable("KUBERNETES_CONTEXT", "CLOUD `kubernetes`: the kubeconfig context to use.",
             default="the kubeconfig's current context", modes=_RUNNER_SWEEP),
    Variable(
        "CLOUD_KUBERNETES_NODE_SELECTOR",
        "CLOUD `kubernetes`: node labels the pod must run on, `key=value` pairs, comma-separated "
        "(e.g. `nvidia.com/gpu.product=Tesla-T4`).",
    ),
    Variable(
        "CLOUD_KUBERNETES_TOLERATIONS",
        "CLOUD `kubernetes`: taints the pod tolerates, comma-separated, in `kubectl taint` syntax: "
        "`key=value:Effect`, `key:Effect`, `key=value` or `key` (Effect: NoSchedule, PreferNoSchedule, NoExecute).",
    ),
    Variable(
        "KUBERNETES_DIND_IMAGE",
        "CLOUD `kubernetes`: the Docker-in-Docker sidecar's image. With CLOUD_GPU it must be an image with the "
        "NVIDIA Container Toolkit (see docs/clouds/kubernetes.md).",
        default=DEFAULT_DIND_IMAGE,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Toleration:
    key: str
    value: str = ""
    effect: str = ""  # "" = every effect

    def manifest(self) -> dict[str, str]:
        out = {"key": self.key, "operator": "Equal" if self.value else "Exists"}
        if self.value:
            out["value"] = self.value
        if self.effect:
            out["effect"] = self.effect
        return out


@dataclass(frozen=True)
class KubernetesOptions:
    # Parsed KUBE_CONFIG (None = KUBECONFIG path or in-cluster). Never in repr: it holds the user's token.
    kubeconfig: dict[str, Any] | None = field(default=None, repr=False)
    kubeconfig_path: str = ""
    context: str = ""  # "" = the kubeconfig's current context
    namespace: str = DEFAULT_NAMESPACE
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    dind_image: str = DEFAULT_DIND_IMAGE
    dind_image_given: bool = False


def _kubeconfig(raw: str) -> dict[str, Any]:
    text = raw.strip()
    compact = "".join(text.split())
    if re.fullmatch(r"[A-Za-z0-9+/=]+", compact):  # YAML always has a ':'; base64 never does
        try:
            text = base64.b64decode(compact, validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ConfigError("KUBE_CONFIG", raw, "", secret=True, message="KUBE_CONFIG is not valid base64") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("clusters"), list) or not doc.get("contexts"):
        raise ConfigError(
            "KUBE_CONFIG",
            raw,
            "",
            secret=True,
            message="KUBE_CONFIG is not a kubeconfig: expected YAML with clusters, contexts and users "
            "(the output of `kubectl config view --minify --raw`), raw or base64",
        )
    return doc


def _context(value: str, kubeconfig: dict[str, Any] | None) -> str:
    context = check_text("KUBERNETES_CONTEXT", value, max_length=253, pattern=r"[^\s]+", allowed="a context name")
    if context and kubeconfig is not None:
        names = [c.get("name", "") for c in kubeconfig.get("contexts") or [] if isinstance(c, dict)]
        if context not in names:
            raise ConfigError("KUBERNETES_CONTEXT", value, f"KUBE_CONFIG has the contexts {', '.join(names)}")
    if not context and kubeconfig is not None and not kubeconfig.get("current-context"):
        raise ConfigError.missing("KUBERNETES_CONTEXT", "KUBE_CONFIG has no current-context; name one of its contexts")
    return context


def _plugin_free(kubeconfig: dict[str, Any], context: str) -> None:
    """A user that runs a command for its token (`exec`: aws eks get-token, gke-gcloud-auth-plugin, kubelogin)
    cannot sign in from the pipe's image, which has none of those programs: say so before any call."""
    chosen = context or str(kubeconfig.get("current-context") or "")
    entry = next((c for c in kubeconfig.get("contexts") or [] if isinstance(c, dict) and c.get("name") == chosen), {})
    user_name = (entry.get("context") or {}).get("user")
    user = next(
        (
            u.get("user") or {}
            for u in kubeconfig.get("users") or []
            if isinstance(u, dict) and u.get("name") == user_name
        ),
        {},
    )
    plugin = (user.get("exec") or {}).get("command") if isinstance(user.get("exec"), dict) else None
    if plugin or user.get("auth-provider"):
        raise ConfigError(
            "KUBE_CONFIG",
            "",
            "",
            message=f"KUBE_CONFIG: user {user_name!r} signs in by running {plugin or 'an auth-provider'}, which the "
            "pipe's image does not have; use a service account token (README, Kubernetes prerequisites)",
        )


def parse_node_selector(value: str) -> dict[str, str]:
    selector: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        key, eq, label = part.partition("=")
        if not eq or not re.fullmatch(_LABEL_KEY, key.strip()) or not re.fullmatch(_LABEL_VALUE, label.strip()):
            raise ConfigError(
                "CLOUD_KUBERNETES_NODE_SELECTOR",
                value,
                "use key=value pairs, comma-separated, with Kubernetes label keys and values "
                "(e.g. nvidia.com/gpu.product=Tesla-T4,pool=gpu)",
            )
        selector[key.strip()] = label.strip()
    return selector


def parse_tolerations(value: str) -> tuple[Toleration, ...]:
    found: list[Toleration] = []
    for part in (p.strip() for p in value.split(",") if p.strip()):
        taint, _, effect = part.partition(":")
        key, _, label = taint.partition("=")
        if (
            not re.fullmatch(_LABEL_KEY, key)
            or not re.fullmatch(_LABEL_VALUE, label)
            or (effect and effect not in TAINT_EFFECTS)
            or (":" in part and not effect)
        ):
            raise ConfigError(
                "CLOUD_KUBERNETES_TOLERATIONS",
                value,
                "use key=value:Effect, key:Effect, key=value or key, comma-separated, with Effect one of "
                + ", ".join(TAINT_EFFECTS),
            )
        found.append(Toleration(key, label, effect))
    return tuple(found)


def refuse_vm_options(env: Mapping[str, str]) -> None:
    for name, why in NOT_ON_KUBERNETES.items():
        raw = env.get(name, "").strip()
        if raw:
            raise ConfigError(name, raw, "", message=f"{name} has no meaning with CLOUD: 'kubernetes': {why}")


def load(env: Mapping[str, str], *, gpu: bool) -> KubernetesOptions:
    """Call refuse_vm_options(env) first: a VM option is a clearer first error than a kubeconfig one."""

    def get(name: str) -> str:
        return env.get(name, "").strip()

    kubeconfig = _kubeconfig(env["KUBE_CONFIG"]) if get("KUBE_CONFIG") else None
    path = check_text("KUBECONFIG", get("KUBECONFIG"), max_length=4096, pattern=r"[^\0]+", allowed="a file path")
    if kubeconfig is not None and path:
        raise ConfigError.conflict("KUBE_CONFIG", "KUBECONFIG", "give the kubeconfig's text or its path, not both")
    dind = check_text(
        "KUBERNETES_DIND_IMAGE", get("KUBERNETES_DIND_IMAGE"), max_length=255, pattern=_IMAGE, allowed="an image"
    )
    if gpu and not dind:
        raise ConfigError.missing(
            "KUBERNETES_DIND_IMAGE",
            "with CLOUD_GPU the step containers reach the GPU only through a Docker-in-Docker image that has the "
            "NVIDIA Container Toolkit; stock docker:dind has not (see docs/clouds/kubernetes.md, GPU)",
        )
    context = _context(get("KUBERNETES_CONTEXT"), kubeconfig)
    if kubeconfig is not None:
        _plugin_free(kubeconfig, context)
    return KubernetesOptions(
        kubeconfig=kubeconfig,
        kubeconfig_path=path,
        context=context,
        namespace=check_text(
            "KUBERNETES_NAMESPACE",
            get("KUBERNETES_NAMESPACE") or DEFAULT_NAMESPACE,
            max_length=63,
            pattern=_NAMESPACE,
            allowed="a namespace name: lowercase letters, digits and '-'",
        ),
        node_selector=parse_node_selector(env.get("CLOUD_KUBERNETES_NODE_SELECTOR", "")),
        tolerations=parse_tolerations(env.get("CLOUD_KUBERNETES_TOLERATIONS", "")),
        dind_image=dind or DEFAULT_DIND_IMAGE,
        dind_image_given=bool(dind),
    )


def refuse_on_other_clouds(env: Mapping[str, str]) -> None:
    """The Kubernetes-only placement variables make no sense on a VM cloud: say so rather than ignore them."""
    for name in ("CLOUD_KUBERNETES_NODE_SELECTOR", "CLOUD_KUBERNETES_TOLERATIONS", "KUBERNETES_DIND_IMAGE"):
        raw = env.get(name, "").strip()
        if raw:
            raise ConfigError(name, raw, "only with CLOUD: 'kubernetes'")

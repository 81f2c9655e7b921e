"""The fake cluster's nodes and default-scheduler: binds a pod to a node that fits, or says why none does.

Filters run per node in the default plugin order and stop at the first that fails (TaintToleration,
NodeAffinity, NodeResourcesFit; the last may give several reasons). The message has the real scheduler's
form (FitError.Error plus the preemption post-filter's), as users see it in `kubectl describe pod`, e.g.
  0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available:
  3 No preemption victims found for incoming pod..
(issues NVIDIA/k8s-device-plugin#430 and #421 quote such messages from Kubernetes 1.27+).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fakes.kubernetes import nodes
from fakes.kubernetes.validation import parse_quantity

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass
class Node:
    name: str
    allocatable: dict[str, Decimal]  # cpu (cores), memory (bytes), nvidia.com/gpu, ...
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)  # {"key", "value", "effect"}
    daemonsets: dict[str, Decimal] = field(default_factory=dict)  # what the node's DaemonSet pods request


def make_node(
    name: str,
    *,
    cpu: str = "8",
    memory: str = "32Gi",
    gpus: int = 0,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    cloud: str = "",
    max_pods: int = 110,
) -> Node:
    """cpu and memory are the allocatable as given; with a cloud (gke, eks, aks) they are the machine's own
    figures, and the node has that cloud's allocatable and DaemonSets (fakes.kubernetes.nodes)."""
    cores, size = parse_quantity(cpu) or Decimal(0), parse_quantity(memory) or Decimal(0)
    daemonsets: dict[str, Decimal] = {}
    if cloud:
        cores, size = nodes.allocatable(cloud, int(cores), int(size / nodes.GIB), max_pods)
        daemonsets = nodes.daemonset_requests(cloud)
    allocatable = {"cpu": cores, "memory": size}
    if gpus:
        allocatable["nvidia.com/gpu"] = Decimal(gpus)
    base = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    return Node(name, allocatable, {**base, **(labels or {})}, list(taints or []), daemonsets)


def class_node(name: str, size: str, cloud: str, **kwargs: Any) -> Node:
    """A node of the machine type CLOUD_TYPE `size` names on that cloud (fakes.kubernetes.nodes.NODE_CLASSES)."""
    machine, cores, gib, max_pods = nodes.NODE_CLASSES[size][cloud]
    labels = {"node.kubernetes.io/instance-type": machine, **kwargs.pop("labels", {})}
    return make_node(name, cpu=str(cores), memory=f"{gib}Gi", cloud=cloud, max_pods=max_pods, labels=labels, **kwargs)


def _requests(container: dict[str, Any]) -> dict[str, Decimal]:
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}  # requests default to limits
    return {name: parse_quantity(raw) or Decimal(0) for name, raw in merged.items()}


def pod_requests(spec: dict[str, Any]) -> dict[str, Decimal]:
    """What a pod asks for, as KEP-753 (native sidecars) defines it: init containers run in order, each
    sidecar (restartPolicy Always) keeps running beside everything after it, so a plain init container needs
    its own request plus the sidecars started before it; the pod needs the larger of that peak and the
    sidecars plus the regular containers (kubernetes/enhancements keps/sig-node/753-sidecar-containers,
    "Resources calculation for scheduling and pod admission")."""
    sidecars: dict[str, Decimal] = {}
    peak: dict[str, Decimal] = {}
    for container in spec.get("initContainers") or []:
        requests = _requests(container)
        if container.get("restartPolicy") == "Always":
            for name, amount in requests.items():
                sidecars[name] = sidecars.get(name, Decimal(0)) + amount
            requests = {}
        for name in set(sidecars) | set(requests):
            here = sidecars.get(name, Decimal(0)) + requests.get(name, Decimal(0))
            peak[name] = max(peak.get(name, Decimal(0)), here)
    total = dict(sidecars)
    for container in spec.get("containers") or []:
        for name, amount in _requests(container).items():
            total[name] = total.get(name, Decimal(0)) + amount
    return {name: max(total.get(name, Decimal(0)), peak.get(name, Decimal(0))) for name in set(total) | set(peak)}


def _tolerated(taint: dict[str, str], tolerations: list[dict[str, Any]]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t["key"] == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _reasons(node: Node, spec: dict[str, Any], used: dict[str, Decimal], wanted: dict[str, Decimal]) -> list[str]:
    for taint in node.taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, spec.get("tolerations") or []):
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"]
    selector = spec.get("nodeSelector") or {}
    if any(node.labels.get(k) != v for k, v in selector.items()):
        return ["node(s) didn't match Pod's node affinity/selector"]
    short = []
    for resource, amount in sorted(wanted.items()):
        free = node.allocatable.get(resource, Decimal(0)) - node.daemonsets.get(resource, Decimal(0))
        if amount > free - used.get(resource, Decimal(0)):
            short.append(f"Insufficient {resource}")
    return short


def schedule(
    nodes: list[Node], spec: dict[str, Any], used_by_node: dict[str, dict[str, Decimal]]
) -> tuple[str | None, str]:
    """(node name, "") when the pod fits somewhere, else (None, the scheduler's message)."""
    if not nodes:
        return None, "no nodes available to schedule pods"
    wanted = pod_requests(spec)
    fit_reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    for node in nodes:
        reasons = _reasons(node, spec, used_by_node.get(node.name, {}), wanted)
        if not reasons:
            return node.name, ""
        fit_reasons.update(reasons)
        preemption[NO_VICTIMS if reasons[0].startswith("Insufficient") else NOT_HELPFUL] += 1
    total = len(nodes)
    fit = ", ".join(sorted(f"{count} {reason}" for reason, count in fit_reasons.items()))
    post = ", ".join(sorted(f"{count} {reason}" for reason, count in preemption.items()))
    return None, f"0/{total} nodes are available: {fit}. preemption: 0/{total} nodes are available: {post}.."

"""Realistic nodes for the local Kubernetes: a machine's capacity, the allocatable its cloud's kubelet
configuration leaves, and the requests of the DaemonSets every node of that cloud runs.

Capacity: the kernel and firmware keep part of a VM's memory, so a node's memory capacity is below the machine
type's figure; Karpenter subtracts 7.5% for it (its `vmMemoryOverheadPercent` setting's default, karpenter.sh
docs, "Settings"). The same share is taken here.

Reservations, each cloud's published rule (kube-reserved + system-reserved + the hard eviction threshold):
- GKE (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes): memory 25% of the first 4 GiB, 20% of
  the next 4, 10% of the next 8, 6% of the next 112, 2% above 128 GiB, plus the 100 MiB eviction threshold; CPU
  6% of the first core, 1% of the second, 0.5% of the next two, 0.25% of every core above four.
- EKS (the EKS-optimized AMIs' bootstrap, awslabs/amazon-eks-ami: `11 MiB * max pods + 255 MiB` of memory,
  the same CPU steps as GKE, eviction at 100 MiB), max pods by the VPC CNI's eni-max-pods table.
- AKS 1.29 and later (learn.microsoft.com/azure/aks/node-resource-reservations): memory the lesser of
  `20 MiB * max pods + 50 MiB` (max pods 250 with Azure CNI Overlay) and 25% of the node's memory, plus the
  100 MiB eviction threshold; CPU 60m for 1 core, 100m for 2, 140m for 4, 180m for 8, 260m for 16, 420m for 32
  and 740m for 64.

DaemonSets: the requests of the pods each cloud's default node runs (kube-proxy, the CNI, CSI drivers, log and
metrics agents; read from `kubectl describe node` of default clusters; they vary by version and add-on, so
these are round figures on the high side). Their requests count against the node as any pod's do.
"""

from __future__ import annotations

from decimal import Decimal

GIB = Decimal(2**30)
MIB = Decimal(2**20)
KERNEL_SHARE = Decimal("0.075")
EVICTION_MIB = 100
# The machine each CLOUD_TYPE names (pipe/providers/machine_types.py: t3.large, m5.2xlarge, ...), per cloud:
# name, vCPUs, GiB, and on EKS the VPC CNI's max pods.
NODE_CLASSES: dict[str, dict[str, tuple[str, int, int, int]]] = {
    "s": {"gke": ("e2-standard-2", 2, 8, 110), "eks": ("t3.large", 2, 8, 35), "aks": ("Standard_D2s_v5", 2, 8, 250)},
    "m": {"gke": ("e2-standard-8", 8, 32, 110), "eks": ("m5.2xlarge", 8, 32, 58),
          "aks": ("Standard_D8s_v5", 8, 32, 250)},
    "l": {"gke": ("n2-standard-32", 32, 128, 110), "eks": ("m5.8xlarge", 32, 128, 234),
          "aks": ("Standard_D32s_v5", 32, 128, 250)},
    "xl": {"gke": ("n2-standard-64", 64, 256, 110), "eks": ("m5.16xlarge", 64, 256, 737),
           "aks": ("Standard_D64s_v5", 64, 256, 250)},
}  # fmt: skip
# (cpu millicores, memory MiB) requested by each DaemonSet pod on a node.
DAEMONSETS: dict[str, dict[str, tuple[int, int]]] = {
    "gke": {"kube-proxy": (100, 0), "fluentbit-gke": (100, 200), "gke-metrics-agent": (10, 60),
            "pdcsi-node": (10, 20), "netd": (5, 30)},
    "eks": {"aws-node": (25, 0), "kube-proxy": (100, 0), "ebs-csi-node": (30, 120), "eks-pod-identity-agent": (25, 0)},
    "aks": {"kube-proxy": (100, 0), "azure-cns": (40, 250), "azure-ip-masq-agent": (100, 50),
            "cloud-node-manager": (50, 50), "csi-azuredisk-node": (50, 100), "csi-azurefile-node": (50, 100),
            "ama-logs": (75, 325)},
}  # fmt: skip
_AKS_CPU_M = {1: 60, 2: 100, 4: 140, 8: 180, 16: 260, 32: 420, 64: 740}


def _tiered(total: Decimal, tiers: list[tuple[Decimal, Decimal]], rest: Decimal) -> Decimal:
    """sum of share * amount over consecutive tiers (size, share), then `rest` of whatever is above them."""
    reserved, left = Decimal(0), total
    for size, share in tiers:
        taken = min(left, size)
        reserved += taken * share
        left -= taken
    return reserved + max(left, Decimal(0)) * rest


def _gke_cpu_m(cores: int) -> Decimal:
    tiers = [(Decimal(1), Decimal("0.06")), (Decimal(1), Decimal("0.01")), (Decimal(2), Decimal("0.005"))]
    return _tiered(Decimal(cores), tiers, Decimal("0.0025")) * 1000


def capacity_memory(gib: int) -> Decimal:
    return (Decimal(gib) * GIB * (1 - KERNEL_SHARE)).quantize(Decimal(1))


def allocatable(cloud: str, cores: int, gib: int, max_pods: int) -> tuple[Decimal, Decimal]:
    """(cpu cores, memory bytes) the scheduler may hand out on such a node."""
    memory = capacity_memory(gib)
    if cloud == "gke":
        gib_tiers = [(4 * GIB, Decimal("0.25")), (4 * GIB, Decimal("0.20")), (8 * GIB, Decimal("0.10")),
                     (112 * GIB, Decimal("0.06"))]  # fmt: skip
        reserved = _tiered(memory, gib_tiers, Decimal("0.02"))
        cpu_m = _gke_cpu_m(cores)
    elif cloud == "eks":
        reserved = (11 * max_pods + 255) * MIB
        cpu_m = _gke_cpu_m(cores)
    elif cloud == "aks":
        reserved = min((20 * max_pods + 50) * MIB, memory / 4)
        cpu_m = Decimal(_AKS_CPU_M[cores])
    else:
        raise ValueError(f"unknown cloud {cloud!r}")
    return Decimal(cores) - cpu_m / 1000, memory - reserved - EVICTION_MIB * MIB


def daemonset_requests(cloud: str) -> dict[str, Decimal]:
    pods = DAEMONSETS[cloud].values()
    return {"cpu": Decimal(sum(c for c, _ in pods)) / 1000, "memory": sum(m for _, m in pods) * MIB}

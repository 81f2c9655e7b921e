"""Generic machine requests -> native names per cloud, with estimated list prices.

CML's table is the starting point (m -> m5.2xlarge on AWS), with three
deliberate changes: 's' has 8 GiB of memory (CML's 1 GiB t2.micro cannot run
the Bitbucket runner plus a step), GPUs retired by their cloud (K80
everywhere, V100 on Azure) are refused with the valid choices instead of
failing at launch, and CML's non-existent AWS p3.xlarge is p3.2xlarge.

Prices are on-demand USD per hour in US regions, for the plan's cost estimate
only; they are not fetched live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipe.errors import PipeError
from pipe.providers.machine_types import MACHINE_TYPES

SIZES = ("s", "m", "l", "xl")
GENERIC_REGIONS = ("us-east", "us-west", "eu-west", "eu-north")
CLOUDS = ("aws", "gcp", "azure")


class CatalogError(PipeError):
    """An unknown or impossible request; str() names the variable and lists what is valid."""

    def __init__(self, variable: str, value: str, allowed: str) -> None:
        super().__init__(f"{variable}: {value!r} is not valid; {allowed}")
        self.variable = variable
        self.value = value
        self.allowed = allowed


@dataclass(frozen=True)
class Machine:
    instance_type: str
    accelerator: str = ""  # GCP: attached accelerator type; empty where the type carries its GPUs
    accelerator_count: int = 0
    gpu: str = ""  # generic GPU name, empty for CPU-only
    hourly_usd: float | None = None
    memory_gib: float | None = None  # None: a native type outside the catalog

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpu)


@dataclass(frozen=True)
class Location:
    region: str
    zones: tuple[str, ...]  # preferred order; empty = let the adapter discover them


# The clouds whose provider makes images (base.MakesImages, COMMAND: bake): where runner mode with CLOUD_IMAGE
# unset looks for a baked image of ours first (pipe/bake/lookup.py).
BAKES_IMAGES = frozenset({"aws", "gcp", "azure"})
# (CPU image, GPU image) as each adapter looks it up when CLOUD_IMAGE is empty. The GPU images ship the
# NVIDIA driver and container toolkit, so the startup script installs nothing on them.
DEFAULT_IMAGES: dict[str, tuple[str, str]] = {
    "aws": (
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
        "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *",
    ),
    "gcp": (
        "ubuntu-os-cloud/ubuntu-2404-lts-amd64",
        "deeplearning-platform-release/common-cu128-ubuntu-2204-nvidia-570",
    ),
    "azure": ("Canonical:ubuntu-24_04-lts:server:latest", "microsoft-dsvm:ubuntu-hpc:2204:latest"),
}

GPUS = ("t4", "a10g", "l4", "a100", "h100", "k80", "v100")

# CLOUD: kubernetes. CLOUD_TYPE sizes the Docker-in-Docker container, where the steps run, with requests equal
# to limits, so that the whole pod fits the allocatable of a node of the machine type the size names on the
# clouds (s = 2 vCPU / 8 GiB as t3.large, m = 8 / 32 as m5.2xlarge, l = 32 / 128, xl = 64 / 256). The pod asks
# for the sum of its native sidecars and its regular container (KEP-753): Docker-in-Docker, the runner (250m,
# 1 GiB) and the agent (10m, 32 MiB); its plain init container runs alone, before them, and is smaller.
# Allocatable is the node's capacity less the kubelet's and the system's reservations and the eviction threshold:
# - GKE (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes): memory 25% of the first 4 GiB, 20% of
#   the next 4, 10% of the next 8, 6% of the next 112, 2% above, plus 100 MiB; CPU 6% of the first core, 1% of
#   the second, 0.5% of the next two, 0.25% above four;
# - EKS (the EKS-optimized AMIs, awslabs/amazon-eks-ami): 11 MiB per pod the VPC CNI allows (35 on t3.large)
#   plus 255 MiB and 100 MiB eviction; CPU as GKE;
# - AKS 1.29+ (learn.microsoft.com/azure/aks/node-resource-reservations): the lesser of 20 MiB per pod (250)
#   plus 50 MiB and 25% of memory, plus 100 MiB; CPU 100m on 2 cores, 180m on 8, 420m on 32, 740m on 64.
# and a node's memory capacity is about 7.5% below the machine's (kernel, firmware: Karpenter's default
# vmMemoryOverheadPercent). The smallest allocatable of the three, less 500m and 1 GiB per node for DaemonSets
# (kube-proxy, CNI, CSI, log and metrics agents; 2 GiB on l and xl), less the runner and the agent:
#   s: 1.9 CPU, 5.45 GiB (AKS) -> 1.1 CPU, 3.25 GiB     m: 7.82 CPU (AKS), 24.6 GiB (AKS) -> 7 CPU, 22 GiB
#   l: 31.58 CPU (AKS), 109.6 GiB (GKE) -> 30, 104 GiB  xl: 63.26 CPU (AKS), 225.2 GiB (GKE) -> 62, 220 GiB
# CLOUD_GPU asks for nvidia.com/gpu in the counts the clouds' GPU types carry (l = 4, as g4dn.12xlarge).
# Which GPU model the node has is the node selector's business (docs/clouds/kubernetes.md).
KUBERNETES_SIZES = {"s": ("1.1", "3.25Gi"), "m": ("7", "22Gi"), "l": ("30", "104Gi"), "xl": ("62", "220Gi")}
KUBERNETES_GPU_COUNTS = {"s": 1, "m": 1, "l": 4, "xl": 8}
KUBERNETES_GPU_RESOURCE = "nvidia.com/gpu"


def kubernetes_resources(instance_type: str) -> tuple[str, str]:
    """'8cpu-32Gi' (a Machine.instance_type on Kubernetes) -> ('8', '32Gi')."""
    cpu, _, memory = instance_type.partition("cpu-")
    return cpu, memory


def _kubernetes_machine(size: str, gpu: str) -> Machine:
    if size not in KUBERNETES_SIZES:
        raise CatalogError("CLOUD_TYPE", size, f"on kubernetes use one of {', '.join(SIZES)}")
    cpu, memory = KUBERNETES_SIZES[size]
    if not gpu:
        return Machine(f"{cpu}cpu-{memory}")
    if gpu in _RETIRED:
        raise CatalogError("CLOUD_GPU", gpu, f"{_RETIRED[gpu]}; on kubernetes choose one of {', '.join(_K8S_GPUS)}")
    if gpu not in _K8S_GPUS:
        raise CatalogError("CLOUD_GPU", gpu, f"on kubernetes choose one of {', '.join(_K8S_GPUS)}")
    return Machine(f"{cpu}cpu-{memory}", KUBERNETES_GPU_RESOURCE, KUBERNETES_GPU_COUNTS[size], gpu)


_K8S_GPUS = tuple(g for g in GPUS if g != "k80")
_RETIRED = {"k80": "K80 GPUs are retired on every cloud"}
# GCP accelerator names, for GCP_TYPE + CLOUD_GPU and for native CLOUD_GPU values.
_GCP_ACCELERATORS = {
    "t4": "nvidia-tesla-t4",
    "v100": "nvidia-tesla-v100",
    "l4": "nvidia-l4",
    "a100": "nvidia-tesla-a100",
    "h100": "nvidia-h100-80gb",
    "p4": "nvidia-tesla-p4",
    "p100": "nvidia-tesla-p100",
}

_REGIONS: dict[str, dict[str, Location]] = {
    "aws": {
        "us-east": Location("us-east-1", ()),
        "us-west": Location("us-west-1", ()),
        "eu-west": Location("eu-west-1", ()),
        "eu-north": Location("eu-north-1", ()),
    },
    "gcp": {
        "us-east": Location("us-east1", ("us-east1-c", "us-east1-b", "us-east1-d")),
        "us-west": Location("us-west1", ("us-west1-b", "us-west1-a", "us-west1-c")),
        "eu-west": Location("europe-west1", ("europe-west1-d", "europe-west1-b", "europe-west1-c")),
        "eu-north": Location("europe-north1", ("europe-north1-a", "europe-north1-b", "europe-north1-c")),
    },
    "azure": {
        "us-east": Location("eastus", ()),
        "us-west": Location("westus2", ()),
        "eu-west": Location("westeurope", ()),
        "eu-north": Location("northeurope", ()),
    },
}

_NATIVE_REGION = {
    "aws": re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]?$"),
    "gcp": re.compile(r"^[a-z]+-[a-z]+\d(-[a-z])?$"),
    "azure": re.compile(r"^[a-z][a-z0-9]{2,40}$"),
}
_NATIVE_TYPE = {
    "aws": re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$"),
    "gcp": re.compile(r"^[a-z][a-z0-9-]{1,62}$"),
    "azure": re.compile(r"^(Standard|Basic)_[A-Za-z0-9_-]+$"),
}


def valid_gpus(cloud: str, size: str) -> list[str]:
    return sorted({gpu for (s, gpu) in MACHINE_TYPES[cloud] if s == size and gpu})


def resolve_location(cloud: str, region: str) -> Location:
    """Generic region -> native region and zone order; native regions (and zones) pass through.

    On Kubernetes the "region" is the namespace, and its one pseudo-zone is the namespace too."""
    if cloud == "kubernetes":
        return Location(region, (region,))
    generic = _REGIONS[cloud].get(region)
    if generic:
        return generic
    if not _NATIVE_REGION[cloud].match(region):
        allowed = ", ".join(GENERIC_REGIONS)
        raise CatalogError("CLOUD_REGION", region, f"use one of {allowed} or a native {cloud} region")
    if cloud == "aws" and region[-1].isalpha():  # us-east-1a is a zone of us-east-1
        return Location(region[:-1], (region,))
    if cloud == "gcp" and re.match(r".*\d-[a-z]$", region):  # us-west1-b is a zone of us-west1
        return Location(region.rsplit("-", 1)[0], (region,))
    return Location(region, ())


def resolve_machine(cloud: str, instance_type: str, gpu: str) -> Machine:
    """CLOUD_TYPE and CLOUD_GPU -> a native machine; refuses what the cloud cannot give."""
    if cloud == "kubernetes":
        return _kubernetes_machine(instance_type, gpu.lower() if gpu not in ("", "nogpu") else "")
    table = MACHINE_TYPES[cloud]
    gpu = gpu.lower()
    if gpu in ("", "nogpu"):
        gpu = ""
    if gpu in _RETIRED:
        raise CatalogError("CLOUD_GPU", gpu, f"{_RETIRED[gpu]}; on {cloud} choose one of {', '.join(_gpus_of(cloud))}")
    if instance_type in SIZES:
        if gpu and gpu not in _gpus_of(cloud) and not (cloud == "gcp" and gpu.startswith("nvidia-")):
            raise CatalogError("CLOUD_GPU", gpu, f"on {cloud} choose one of {', '.join(_gpus_of(cloud))}")
        if cloud == "gcp" and gpu.startswith("nvidia-"):  # native accelerator on a generic size: N1 host
            host = MACHINE_TYPES["gcp"][(instance_type, "t4")]
            return Machine(host[0], gpu, 1, _generic_gpu(gpu), None, host[4])
        row = table.get((instance_type, gpu))
        if row is None:
            sizes = [s for s in SIZES if (s, gpu) in table]
            raise CatalogError("CLOUD_TYPE", instance_type, f"{gpu} on {cloud} comes in sizes {', '.join(sizes)}")
        return Machine(row[0], row[1], row[2], gpu, row[3], row[4])
    if not _NATIVE_TYPE[cloud].match(instance_type):
        raise CatalogError(
            "CLOUD_TYPE", instance_type, f"use one of {', '.join(SIZES)} or a native {cloud} machine type"
        )
    return _native_machine(cloud, instance_type, gpu)


def _native_machine(cloud: str, instance_type: str, gpu: str) -> Machine:
    known = {row[0]: (g, row) for (_, g), row in MACHINE_TYPES[cloud].items()}
    if cloud == "gcp" and gpu:
        name, _, count = gpu.partition("*")  # CML's accelerator*count syntax
        accelerator = name if name.startswith("nvidia-") else _GCP_ACCELERATORS.get(name, "")
        if not accelerator:
            raise CatalogError("CLOUD_GPU", gpu, f"on gcp choose one of {', '.join(sorted(_GCP_ACCELERATORS))}")
        if count and not count.isdigit():
            raise CatalogError("CLOUD_GPU", gpu, "the count after '*' must be a whole number, e.g. t4*2")
        memory = known[instance_type][1][4] if instance_type in known else None
        return Machine(instance_type, accelerator, int(count or 1), _generic_gpu(accelerator), None, memory)
    entry = known.get(instance_type)
    if gpu:
        # On AWS and Azure the type carries its GPUs: a GPU that contradicts the type is a mistake.
        if entry is None or entry[0] != gpu:
            raise CatalogError(
                "CLOUD_GPU", gpu, f"on {cloud} a native CLOUD_TYPE decides the GPU; leave CLOUD_GPU empty"
            )
    if entry is None:
        return Machine(instance_type, hourly_usd=None, gpu=_guess_gpu(cloud, instance_type))
    row = entry[1]
    return Machine(row[0], row[1], row[2], entry[0], row[3], row[4])


def _gpus_of(cloud: str) -> list[str]:
    return sorted({gpu for (_, gpu) in MACHINE_TYPES[cloud] if gpu})


def _generic_gpu(accelerator: str) -> str:
    for generic, native in _GCP_ACCELERATORS.items():
        if native == accelerator:
            return generic
    return accelerator


_AWS_GPU_FAMILIES = ("p2", "p3", "p4", "p5", "g3", "g4dn", "g5", "g6", "g6e")
# GCP's accelerator-optimized families carry their GPUs in the machine type (no guestAccelerators in the
# request), and like any VM with a GPU they cannot live-migrate: the insert must say onHostMaintenance
# TERMINATE or fails with "Instances with guest accelerators do not support live migration."
# (cloud.google.com/compute/docs/accelerator-optimized-machines, .../gpus/gpu-host-maintenance;
# g2-standard-4 failing without it: loft-sh/devpod#973).
GCP_GPU_TYPE = re.compile(r"^(a[2-4]x?|g[24])-")


def gcp_type_has_gpu(instance_type: str) -> bool:
    """A GCP machine type whose GPUs are built in (a2, a3, a4, a4x, g2, g4)."""
    return bool(GCP_GPU_TYPE.match(instance_type))


def _guess_gpu(cloud: str, instance_type: str) -> str:
    """A GPU marker for native types outside the table, so the right image is picked."""
    if cloud == "aws" and instance_type.split(".")[0] in _AWS_GPU_FAMILIES:
        return "gpu"
    if cloud == "azure" and re.match(r"^Standard_N", instance_type):
        return "gpu"
    if cloud == "gcp" and gcp_type_has_gpu(instance_type):
        return "gpu"
    return ""


# The default AWS GPU AMI, "Deep Learning Base OSS Nvidia Driver GPU AMI", ships NVIDIA's open kernel modules,
# which drive Turing and newer GPUs only; Maxwell, Pascal and Volta need the proprietary flavour (NVIDIA driver
# installation guide, "Kernel Modules": docs.nvidia.com/datacenter/tesla/driver-installation-guide/
# kernel-modules.html). AWS lists G4dn, G5, G6, P4d, P5 ... as the Base GPU AMIs' instances, and P3 and G3 only
# for its "Deep Learning Base Proprietary Nvidia Driver AMI (Amazon Linux 2)" (docs.aws.amazon.com/dlami/latest/
# devguide, release notes). On these families the default image would boot without a GPU.
_AWS_PRE_TURING = {"p2": "K80 (Kepler)", "p3": "V100 (Volta)", "p3dn": "V100 (Volta)", "g3": "M60 (Maxwell)",
                   "g3s": "M60 (Maxwell)"}  # fmt: skip


def check_default_gpu_image(cloud: str, machine: Machine, image_request: str, variable: str) -> None:
    """Refuse a GPU the default image cannot drive (AWS p2/p3/g3), unless CLOUD_IMAGE names another image."""
    family = machine.instance_type.split(".")[0]
    if cloud != "aws" or image_request or family not in _AWS_PRE_TURING:
        return
    value = machine.gpu if variable == "CLOUD_GPU" else machine.instance_type
    works = ", ".join(g for g in _gpus_of("aws") if g != "v100")
    raise CatalogError(
        variable,
        value,
        f"{machine.instance_type} has {_AWS_PRE_TURING[family]} GPUs, which the default AWS GPU image cannot drive "
        f"(its NVIDIA open kernel modules need Turing or newer): choose CLOUD_GPU {works}, or give CLOUD_IMAGE an "
        "AMI with NVIDIA's proprietary driver",
    )


def hourly_price(cloud: str, instance_type: str) -> float | None:
    for row in MACHINE_TYPES[cloud].values():
        if row[0] == instance_type:
            return row[3]
    return None

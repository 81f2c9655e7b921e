"""Quotas for the local Compute Engine: regions.get and projects.get with their `quotas[]` (metric, limit,
usage, as the Region and Project resources of the compute v1 API carry them), configurable per test, and the
vCPUs and built-in GPUs of the accelerator-optimized machine types (machineTypes' guestCpus and accelerators[]:
A2 High has 12 vCPUs and one A100 per "g", A3 High 26 vCPUs and one H100 per "g", G2 standard one L4 up to 32
vCPUs, then 2, 4 and 8; cloud.google.com/compute/docs/accelerator-optimized-machines)."""

from __future__ import annotations

import re
from typing import Any

# A fresh project's room for the tests' launches, unless a test lowers it. E2 and N1 count against CPUS;
# families with their own quota (N2, A2, ...) against it. No PREEMPTIBLE_ quota: Spot VMs use the standard one.
DEFAULT_REGION_QUOTAS: dict[str, tuple[float, float]] = {
    "CPUS": (200.0, 0.0),
    "N2_CPUS": (200.0, 0.0),
    "A2_CPUS": (200.0, 0.0),
    "INSTANCES": (1000.0, 0.0),
    "NVIDIA_T4_GPUS": (8.0, 0.0),
    "NVIDIA_L4_GPUS": (8.0, 0.0),
    "NVIDIA_V100_GPUS": (8.0, 0.0),
    "NVIDIA_A100_GPUS": (8.0, 0.0),
    "NVIDIA_H100_GPUS": (8.0, 0.0),
}
DEFAULT_PROJECT_QUOTAS: dict[str, tuple[float, float]] = {
    "CPUS_ALL_REGIONS": (400.0, 0.0),
    "GPUS_ALL_REGIONS": (16.0, 0.0),
}
_G2_GPUS = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}


def machine_shape(name: str) -> tuple[int, list[dict[str, Any]]]:
    """(guestCpus, accelerators[]) of a machine type."""
    built_in = re.match(r"^(a2|a3)-highgpu-(\d+)g$", name)
    if built_in:
        count = int(built_in.group(2))
        kind, per_gpu = ("nvidia-tesla-a100", 12) if built_in.group(1) == "a2" else ("nvidia-h100-80gb", 26)
        return per_gpu * count, [{"guestAcceleratorType": kind, "guestAcceleratorCount": count}]
    cpus_at_end = re.search(r"(\d+)$", name)
    cpus = int(cpus_at_end.group(1)) if cpus_at_end else 1
    if name.startswith("g2-"):
        return cpus, [{"guestAcceleratorType": "nvidia-l4", "guestAcceleratorCount": _G2_GPUS.get(cpus, 1)}]
    return cpus, []


def quotas_json(table: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    return [{"metric": metric, "limit": limit, "usage": usage} for metric, (limit, usage) in sorted(table.items())]

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
    "CPUS": (1000.0, 0.0),
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
    "CPUS_ALL_REGIONS": (2000.0, 0.0),
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


def over_quota(
    region: dict[str, tuple[float, float]], project: dict[str, tuple[float, float]], body: dict[str, Any], spot: bool
) -> tuple[str, float, str] | None:
    """(metric, limit, scope) of the first quota one more instance like `body` would exceed, else None. Compute
    refuses the insert at once, HTTP 403 reason quotaExceeded, "Quota 'CPUS' exceeded.  Limit: 8.0 in region
    us-east1." or "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally." (as users quote it:
    mesosphere-backup/terraform-dcos#61, fastai/course-v3#165). Spot VMs count against PREEMPTIBLE_ quotas where
    the project has them."""
    cpus, built_in = machine_shape(str(body.get("machineType", "")).rsplit("/", 1)[-1])
    gpus = {str(a.get("acceleratorType", "")).rsplit("/", 1)[-1]: int(a.get("acceleratorCount", 0))
            for a in body.get("guestAccelerators", [])} or {a["guestAcceleratorType"]: a["guestAcceleratorCount"]
                                                            for a in built_in}  # fmt: skip
    family = str(body.get("machineType", "")).rsplit("/", 1)[-1].split("-")[0].upper()
    wanted: list[tuple[str, float]] = [(f"{family}_CPUS" if f"{family}_CPUS" in region else "CPUS", float(cpus))]
    wanted += [(_gpu_metric(kind), float(n)) for kind, n in gpus.items()]
    Check = tuple[str, float, dict[str, tuple[float, float]], str]
    checks: list[Check] = [(_spot(region, metric, spot), need, region, "region") for metric, need in wanted]
    checks += [("CPUS_ALL_REGIONS", float(cpus), project, "project"), ("GPUS_ALL_REGIONS", sum(gpus.values()), project,
               "project")]  # fmt: skip
    for metric, need, table, scope in checks:
        if need and metric in table and table[metric][1] + need > table[metric][0]:
            return metric, table[metric][0], scope
    return None


def _spot(region: dict[str, tuple[float, float]], metric: str, spot: bool) -> str:
    return f"PREEMPTIBLE_{metric}" if spot and region.get(f"PREEMPTIBLE_{metric}", (0.0, 0.0))[0] > 0 else metric


def _gpu_metric(kind: str) -> str:
    """The Quota.Metric of an accelerator type (compute v1 API's Quota enum: NVIDIA_T4_GPUS, NVIDIA_H100_GPUS)."""
    if kind.startswith("nvidia-h100"):
        return "NVIDIA_H100_GPUS"
    return "NVIDIA_" + kind.removeprefix("nvidia-tesla-").removeprefix("nvidia-").upper().replace("-", "_") + "_GPUS"

"""The Compute Engine quotas an instance counts against, read before a launch (issue 29).

Regional quotas (CPUS, a family's own such as N2_CPUS, NVIDIA_T4_GPUS, PREEMPTIBLE_* for Spot VMs) come with
their limit and usage in regions.get's `quotas`; project-wide ones (GPUS_ALL_REGIONS, CPUS_ALL_REGIONS) in
projects.get's (Compute Engine API reference, Region and Project resources, field `quotas[]`: metric, limit,
usage; "Allocation quotas", https://cloud.google.com/compute/resource-usage). Spot VMs count against the
PREEMPTIBLE_ quota where the project has one and against the standard quota otherwise ("Preemptible quotas" on
the same page). The instance's vCPUs and built-in GPUs (A2, A3, G2) come from its machine type
(machineTypes: guestCpus, accelerators[]): one aggregated call, filtered by name.
"""

from __future__ import annotations

import re
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from pipe.providers.gcp.api import ComputeApi
from pipe.providers.quota import QuotaNeed, QuotaUnreadable

# Accelerator types whose quota metric is not NVIDIA_<name>_GPUS (the Quota.Metric enum of the API).
_GPU_METRIC = {"nvidia-h100-80gb": "NVIDIA_H100_GPUS", "nvidia-h100-mega-80gb": "NVIDIA_H100_MEGA_GPUS"}
_CUSTOM = re.compile(r"custom-(\d+)-")


def gpu_metric(accelerator: str) -> str:
    if accelerator in _GPU_METRIC:
        return _GPU_METRIC[accelerator]
    name = accelerator.removeprefix("nvidia-tesla-").removeprefix("nvidia-")
    return f"NVIDIA_{name.upper().replace('-', '_')}_GPUS"


def quota_needs(
    api: ComputeApi, instance_type: str, accelerator: str, accelerator_count: int, *, spot: bool
) -> list[QuotaNeed]:
    cpus, built_in = _machine(api, instance_type)
    gpus = {accelerator: accelerator_count} if accelerator and accelerator_count else built_in
    regional = _quotas(api, "regions", lambda: api.regions.get(project=api.project, region=api.region, retry=None))
    family = instance_type.split("-")[0].upper()
    cpu_metric = f"{family}_CPUS" if f"{family}_CPUS" in regional else "CPUS"
    wanted: list[tuple[str, bool, float, str]] = []  # (metric, regional, need, unit)
    if cpus:
        wanted.append((_market(regional, cpu_metric, spot), True, cpus, "vCPUs"))
    wanted += [(_market(regional, gpu_metric(kind), spot), True, n, "GPUs") for kind, n in gpus.items()]
    project: dict[str, tuple[float, float]] = {}
    if gpus or cpus:
        project = _quotas(api, "projects", lambda: api.projects.get(project=api.project, retry=None))
    if gpus:
        wanted.append(("GPUS_ALL_REGIONS", False, sum(gpus.values()), "GPUs"))
    if cpus:
        wanted.append(("CPUS_ALL_REGIONS", False, cpus, "vCPUs"))
    needs = []
    for metric, in_region, need, unit in wanted:
        table = regional if in_region else project
        if metric not in table:  # not a quota this project has: nothing to check
            continue
        limit, usage = table[metric]
        where = f" in {api.region}" if in_region else ""
        ask = f"https://console.cloud.google.com/iam-admin/quotas?project={api.project} (filter: {metric})"
        needs.append(QuotaNeed(f"GCP quota {metric}{where} (project {api.project})", limit, usage, need, unit, ask))
    return needs


def _market(regional: dict[str, tuple[float, float]], metric: str, spot: bool) -> str:
    """Spot VMs use the PREEMPTIBLE_ quota where the project has one (a limit above 0), else the standard one."""
    preemptible = f"PREEMPTIBLE_{metric}"
    if spot and regional.get(preemptible, (0.0, 0.0))[0] > 0:
        return preemptible
    return metric


def _machine(api: ComputeApi, instance_type: str) -> tuple[float, dict[str, int]]:
    """(vCPUs, built-in accelerators) of the machine type in the region; (0, {}) when it is not listed."""
    custom = _CUSTOM.search(instance_type)
    if custom:
        return float(custom.group(1)), {}
    request = compute_v1.AggregatedListMachineTypesRequest(project=api.project, filter=f'name = "{instance_type}"')

    def run() -> tuple[float, dict[str, int]]:
        for scope, listed in api.machine_types.aggregated_list(request=request, retry=None):
            if not scope.removeprefix("zones/").startswith(api.region + "-"):
                continue
            for found in listed.machine_types:
                if found.name == instance_type:
                    gpus = {a.guest_accelerator_type: a.guest_accelerator_count for a in found.accelerators}
                    return float(found.guest_cpus), gpus
        return 0.0, {}

    try:
        return api.call(run, "list machine types")
    except gexc.GoogleAPICallError as exc:
        raise _unreadable(exc, "compute.machineTypes.list") from None


def _quotas(api: ComputeApi, what: str, get: Any) -> dict[str, tuple[float, float]]:
    try:
        resource = api.call(get, f"read the {what} quotas")
    except gexc.GoogleAPICallError as exc:
        raise _unreadable(exc, f"compute.{what}.get") from None
    return {q.metric: (float(q.limit), float(q.usage)) for q in resource.quotas}


def _unreadable(exc: gexc.GoogleAPICallError, permission: str) -> QuotaUnreadable:
    if isinstance(exc, gexc.Forbidden | gexc.Unauthorized):
        return QuotaUnreadable(f"the GCP credentials lack {permission} ({exc.code}); grant it to check quotas")
    return QuotaUnreadable(f"GCP {permission} failed ({exc.code})")

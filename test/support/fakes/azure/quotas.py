"""Compute quotas for the local Resource Manager: the usages list of a region (Usage - List:
GET /subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/usages, each entry's name.value,
name.localizedValue, currentValue, limit and unit "Count") and the Resource SKUs list (GET
/subscriptions/{sub}/providers/Microsoft.Compute/skus, $filter=location eq '...': each VM size's family and
vCPUs capability). Values are configurable per test (usages[location][name] = (currentValue, limit)).
learn.microsoft.com/rest/api/compute/usage/list, .../resource-skus/list."""

from __future__ import annotations

import re
from typing import Any

_USAGES = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/usages$", re.I
)
_SKUS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Compute/skus$", re.I)
LOCATIONS = ("westus2", "eastus", "westeurope")
# VM size -> its family, as the Resource SKUs list names them (the sizes the tests and the catalog use).
FAMILIES = {
    "Standard_B2s": "standardBSFamily",
    "Standard_D2s_v5": "standardDSv5Family",
    "Standard_F8s_v2": "standardFSv2Family",
    "Standard_F32s_v2": "standardFSv2Family",
    "Standard_F64s_v2": "standardFSv2Family",
    "Standard_NC4as_T4_v3": "standardNCASv3_T4Family",
    "Standard_NC8as_T4_v3": "standardNCASv3_T4Family",
    "Standard_NC64as_T4_v3": "standardNCASv3_T4Family",
    "Standard_NC24ads_A100_v4": "StandardNCADSA100v4Family",
    "Standard_NC48ads_A100_v4": "StandardNCADSA100v4Family",
    "Standard_NC96ads_A100_v4": "StandardNCADSA100v4Family",
    "Standard_NC40ads_H100_v5": "standardNCadsH100v5Family",
    "Standard_NC80adis_H100_v5": "standardNCadsH100v5Family",
    "Standard_ND96isr_H100_v5": "standardNDSH100v5Family",
}
LOCALIZED = {"cores": "Total Regional vCPUs", "lowPriorityCores": "Total Regional Low-priority vCPUs"}


def default_usages() -> dict[str, tuple[float, float]]:
    """A subscription with room for the tests' launches: (currentValue, limit) per usage name."""
    table = {"cores": (0.0, 350.0), "lowPriorityCores": (0.0, 350.0), "virtualMachines": (0.0, 25000.0)}
    table.update({family: (0.0, 100.0) for family in set(FAMILIES.values())})
    return table


class ComputeQuotas:
    def __init__(self) -> None:
        self.usages: dict[str, dict[str, tuple[float, float]]] = {loc: default_usages() for loc in LOCATIONS}

    def answer(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any] | None:
        """The body of a usages or SKUs list, or None when the request is neither."""
        usages = _USAGES.match(path)
        if usages and method == "GET":
            table = self.usages.get(usages["loc"].lower(), {})
            return {"value": [_usage(name, current, limit) for name, (current, limit) in sorted(table.items())]}
        if _SKUS.match(path) and method == "GET":
            where = re.fullmatch(r"location eq '([^']+)'", query.get("$filter", ""))
            locations = [where.group(1)] if where else list(LOCATIONS)
            return {"value": [_sku(size, family, loc) for size, family in FAMILIES.items() for loc in locations]}
        return None


def _usage(name: str, current: float, limit: float) -> dict[str, Any]:
    label = LOCALIZED.get(name, re.sub(r"^standard", "Standard ", name).replace("Family", " Family vCPUs"))
    return {"unit": "Count", "currentValue": int(current), "limit": int(limit), "name": {"value": name,
            "localizedValue": label}}  # fmt: skip


def _sku(size: str, family: str, location: str) -> dict[str, Any]:
    vcpus = re.match(r"Standard_[A-Z]+(\d+)", size)
    return {
        "resourceType": "virtualMachines",
        "name": size,
        "tier": "Standard",
        "size": size.removeprefix("Standard_"),
        "family": family,
        "locations": [location],
        "capabilities": [{"name": "vCPUs", "value": vcpus.group(1) if vcpus else "1"}],
    }


def exceeded(quotas: ComputeQuotas, location: str, size: str, spot: bool) -> str | None:
    """The refusal of a VM past a vCPU quota (family and regional total, or the regional Spot quota), as Resource
    Manager words it (HTTP 409 OperationNotAllowed; as users quote it: nforgeio/neonKUBE#1671,
    scylladb/scylla-cluster-tests#12948 for a family, #4994 for LowPriorityCores), else None."""
    table = quotas.usages.get(location.lower(), {})
    vcpus = re.match(r"Standard_[A-Z]+(\d+)", size)
    need = float(vcpus.group(1)) if vcpus else 1.0
    names = ["lowPriorityCores"] if spot else [FAMILIES.get(size, ""), "cores"]
    for name in names:
        if name in table and table[name][0] + need > table[name][1]:
            current, limit = table[name]
            label = {"cores": "Total Regional Cores", "lowPriorityCores": "LowPriorityCores"}.get(name, f"{name} Cores")
            return (
                f"Operation could not be completed as it results in exceeding approved {label} quota. Additional "
                f"details - Deployment Model: Resource Manager, Location: {location}, Current Limit: {int(limit)}, "
                f"Current Usage: {int(current)}, Additional Required: {int(need)}, (Minimum) New Limit Required: "
                f"{int(current + need)}."
            )
    return None

"""The vCPU quotas an Azure VM counts against, read before a launch (issue 29).

Azure limits vCPUs per region twice: per VM-size family (e.g. standardNCASv3_T4Family) and in total ("cores",
Total Regional vCPUs); Spot VMs count against one regional Spot quota ("lowPriorityCores") whatever their family
("Check vCPU quotas", https://learn.microsoft.com/azure/virtual-machines/quotas). The compute usages list of the
region says each one's limit and currentValue (Usage - List, GET .../providers/Microsoft.Compute/locations/
{location}/usages, https://learn.microsoft.com/rest/api/compute/usage/list); the size's family and vCPUs come
from the Resource SKUs list (Resource Skus - List, `family` and the `vCPUs` capability,
https://learn.microsoft.com/rest/api/compute/resource-skus/list), filtered to the region.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError

from pipe.providers.quota import QuotaNeed, QuotaUnreadable

TOTAL = "cores"
SPOT = "lowPriorityCores"
ASK = "https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas"


def quota_needs(compute: Any, region: str, instance_type: str, *, spot: bool) -> list[QuotaNeed]:
    family, vcpus = _size(compute, region, instance_type)
    if not vcpus:
        return []  # a size the region does not list: the launch's own error says so
    try:
        usages = {u.name.value: u for u in compute.usage.list(region)}
    except (HttpResponseError, ServiceRequestError) as exc:
        raise _unreadable(exc, "Microsoft.Compute/locations/usages/read") from None
    names = [SPOT] if spot else [family, TOTAL]
    needs = []
    for name in names:
        usage = usages.get(name)
        if usage is None:
            continue
        label = usage.name.localized_value or name
        needs.append(
            QuotaNeed(
                f"Azure quota {name} ({label}) in {region}",
                float(usage.limit),
                float(usage.current_value),
                vcpus,
                "vCPUs",
                ASK,
            )
        )
    return needs


def _size(compute: Any, region: str, instance_type: str) -> tuple[str, float]:
    """(family, vCPUs) of the VM size in the region; ("", 0) when the region does not list it."""
    try:
        for sku in compute.resource_skus.list(filter=f"location eq '{region}'"):
            if sku.resource_type == "virtualMachines" and (sku.name or "").lower() == instance_type.lower():
                caps = {c.name: c.value for c in sku.capabilities or []}
                return sku.family or "", float(caps.get("vCPUs", 0) or 0)
    except (HttpResponseError, ServiceRequestError) as exc:
        raise _unreadable(exc, "Microsoft.Compute/skus/read") from None
    return "", 0.0


def _unreadable(exc: Exception, permission: str) -> QuotaUnreadable:
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return QuotaUnreadable(f"the Azure identity lacks {permission} (HTTP {status}); grant it to check quotas")
    return QuotaUnreadable(f"Azure {permission} failed ({status or type(exc).__name__})")

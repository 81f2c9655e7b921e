"""Azure RBAC on the local ARM: the actions each route needs, checked against the caller's list.

A test sets `FakeAzure.allow(actions)`; from then on a request is served only when every action it needs is in the
list, else answered as ARM answers it (HTTP 403). `allow(None)` (the default) checks nothing.

An ARM request needs the operation "{resource provider}/{resource type}/{read|write|delete}" of its resource, or
"{...}/{action}/action" for a POST action (learn.microsoft.com/azure/role-based-access-control/
resource-provider-operations: "Microsoft.Compute/virtualMachines/write", ".../deallocate/action",
".../instanceView/read"; resource groups are "Microsoft.Resources/subscriptions/resourceGroups/..."; the status of
a provider's asynchronous operation is "{provider}/locations/operations/read", "Microsoft.Compute/locations/
operations/read: Gets operation", and callers without it are refused, Azure/azure-xplat-cli#2051 for
"Microsoft.Network/locations/operations/read"). A refusal is AuthorizationFailed:
"The client '...' with object id '...' does not have authorization to perform action '...' over scope '...' or the
scope is invalid." A resource that references another also needs the linked action on the one referenced, and its
refusal is LinkedAuthorizationFailed (learn.microsoft.com/azure/role-based-access-control/troubleshooting,
"Symptom - Linked access check failed"): a network interface joins its subnet
("Microsoft.Network/virtualNetworks/subnets/join/action"), its security group
("Microsoft.Network/networkSecurityGroups/join/action") and its public IP
("Microsoft.Network/publicIPAddresses/join/action"); a VM joins its network interfaces
("Microsoft.Network/networkInterfaces/join/action") and assigns its user-assigned identities
("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", learn.microsoft.com/entra/identity/
managed-identities-azure-resources/how-manage-user-assigned-managed-identities, "Managed Identity Operator").
"""

from __future__ import annotations

import re
from typing import Any

from fakes.azure.quotas import _SKUS, _USAGES
from fakes.azure.state import _ACTION, _GROUP, _GROUPS, _INSTANCE_VIEW, _LIST, _OPERATION, _RESOURCE, RESOURCE_TYPES

_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}
_GROUPS_TYPE = "Microsoft.Resources/subscriptions/resourceGroups"
_NAMESPACES = {ns.lower(): ns for ns in ("Microsoft.Compute", "Microsoft.Network", "Microsoft.Resources")}
_ID_TYPE = re.compile(r"/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)/[^/]+(?:/(?P<child>[^/]+)/[^/]+)?$", re.I)


def _type(ns: str, kind: str) -> str:
    known = RESOURCE_TYPES.get((ns.lower(), kind.lower()))
    return known[0] if known else f"{ns}/{kind}"


def required(method: str, path: str, body: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(actions on the request's own scope, linked actions on the scopes it references), as (action, scope)."""
    verb = _VERBS.get(method, "read")
    if _USAGES.match(path):  # the quota reads (issue 29; fakes/azure/quotas.py), as resource-provider-operations
        return [("Microsoft.Compute/locations/usages/read", path)], []  # lists them: "Gets usage"
    if _SKUS.match(path):
        return [("Microsoft.Compute/skus/read", path)], []
    if _GROUPS.match(path) or _GROUP.match(path):
        return [(f"{_GROUPS_TYPE}/{verb}", path)], []
    m = _OPERATION.match(path)
    if m:
        ns = _NAMESPACES.get(m["ns"].lower(), m["ns"])
        # A resource group's deletion is tracked at a subscription-level operationresults URL on real ARM (this
        # fake serves it under Microsoft.Resources): no operation of a resource provider to check.
        return ([] if ns == "Microsoft.Resources" else [(f"{ns}/locations/operations/read", path)]), []
    m = _INSTANCE_VIEW.match(path)
    if m and method == "GET":
        return [(f"{_type(m['ns'], m['type'])}/instanceView/read", path)], []
    m = _LIST.match(path)
    if m:
        return [(f"{_type(m['ns'], m['type'])}/{verb}", path)], []
    m = _RESOURCE.match(path)
    if m:
        kind = _type(m["ns"], m["type"])
        return [(f"{kind}/{verb}", path)], (_linked(kind, body) if verb == "write" else [])
    m = _ACTION.match(path)
    if m and method == "POST":
        return [(f"{_type(m['ns'], m['type'])}/{m['action']}/action", path)], []
    return [], []


def _linked(kind: str, body: Any) -> list[tuple[str, str]]:
    props = (body or {}).get("properties") or {}
    found: list[tuple[str, str]] = []
    if kind == "Microsoft.Network/networkInterfaces":
        for config in props.get("ipConfigurations") or []:
            inner = config.get("properties") or {}
            for key in ("subnet", "publicIPAddress"):
                if (inner.get(key) or {}).get("id"):
                    found.append(_join(inner[key]["id"]))
        if (props.get("networkSecurityGroup") or {}).get("id"):
            found.append(_join(props["networkSecurityGroup"]["id"]))
    if kind == "Microsoft.Compute/virtualMachines":
        for nic in (props.get("networkProfile") or {}).get("networkInterfaces") or []:
            if nic.get("id"):
                found.append(_join(nic["id"]))
        for identity in ((body or {}).get("identity") or {}).get("userAssignedIdentities") or {}:
            found.append(("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", identity))
    return found


def _join(resource_id: str) -> tuple[str, str]:
    m = _ID_TYPE.search(resource_id)
    if not m:
        return ("", resource_id)
    kind = _type(m["ns"], m["type"])
    return (f"{kind}/{m['child']}/join/action" if m["child"] else f"{kind}/join/action", resource_id)

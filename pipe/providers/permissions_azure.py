"""Azure: the RBAC actions of every Resource Manager call the pipe makes (pipe/providers/azure/), by SDK call.

An action is "{resource provider}/{resource type}/{read|write|delete}" or ".../{action}/action"
(learn.microsoft.com/azure/role-based-access-control/resource-provider-operations). A resource that references
another also needs the linked "join" action on it (learn.microsoft.com/azure/role-based-access-control/
troubleshooting, "Linked access check failed"): a network interface on its subnet, security group and public IP, a
VM on its network interface, and a user-assigned identity (CLOUD_PERMISSION_SET) its assign action. The test
stand-in checks the same (test/support/fakes/azure/iam.py).
"""

from __future__ import annotations

_GROUPS = "Microsoft.Resources/subscriptions/resourceGroups"
_NET = "Microsoft.Network"
_VM = "Microsoft.Compute/virtualMachines"
# A long-running operation's status is polled at its provider ("{provider}/locations/operations/read"); a PUT's
# poller then reads the resource it made (its own read action).
_NET_POLL = f"{_NET}/locations/operations/read"
_COMPUTE_POLL = "Microsoft.Compute/locations/operations/read"

CALLS: dict[str, tuple[str, ...]] = {
    "resource_groups.list": (f"{_GROUPS}/read",),
    "resource_groups.get": (f"{_GROUPS}/read",),
    "resource_groups.create_or_update": (f"{_GROUPS}/write",),
    "resource_groups.begin_delete": (f"{_GROUPS}/delete",),
    "virtual_networks.begin_create_or_update": (
        f"{_NET}/virtualNetworks/write", f"{_NET}/virtualNetworks/read", _NET_POLL,
    ),
    "network_security_groups.begin_create_or_update": (
        f"{_NET}/networkSecurityGroups/write", f"{_NET}/networkSecurityGroups/read", _NET_POLL,
    ),
    "public_ip_addresses.begin_create_or_update": (
        f"{_NET}/publicIPAddresses/write", f"{_NET}/publicIPAddresses/read", _NET_POLL,
    ),
    "network_interfaces.begin_create_or_update": (
        f"{_NET}/networkInterfaces/write",
        f"{_NET}/virtualNetworks/subnets/join/action",
        f"{_NET}/networkSecurityGroups/join/action",
        f"{_NET}/publicIPAddresses/join/action",
        f"{_NET}/networkInterfaces/read",
        _NET_POLL,
    ),
    "virtual_machines.begin_create_or_update": (
        f"{_VM}/write",
        f"{_NET}/networkInterfaces/join/action",
        "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
        f"{_VM}/read",
        _COMPUTE_POLL,
    ),
    "virtual_machines.list": (f"{_VM}/read",),
    "virtual_machines.begin_deallocate": (f"{_VM}/deallocate/action", _COMPUTE_POLL),
    "virtual_machines.generalize": (f"{_VM}/generalize/action",),
    # the bake's success line, from the serial log (the SAS URI it answers is read without RBAC)
    "virtual_machines.retrieve_boot_diagnostics_data": (f"{_VM}/retrieveBootDiagnosticsData/action",),
    "images.begin_create_or_update": (
        "Microsoft.Compute/images/write", "Microsoft.Compute/images/read", _COMPUTE_POLL,
    ),
    "images.get": ("Microsoft.Compute/images/read",),
    "images.list_by_resource_group": ("Microsoft.Compute/images/read",),
}

_LAUNCH = (
    "resource_groups.list",
    "resource_groups.get",
    "resource_groups.create_or_update",
    "virtual_networks.begin_create_or_update",
    "network_security_groups.begin_create_or_update",
    "public_ip_addresses.begin_create_or_update",
    "network_interfaces.begin_create_or_update",
    "virtual_machines.begin_create_or_update",
    "virtual_machines.list",
    "images.get",  # a baked image of ours
    "images.list_by_resource_group",
    "resource_groups.begin_delete",  # the rollback, and retiring leftovers: a runner's group holds all it has
)
_IMAGES = ("resource_groups.list", "images.get", "images.list_by_resource_group", "resource_groups.begin_delete")

MODES: dict[str, tuple[str, ...]] = {
    "runner": _LAUNCH,
    "bake": (
        *_LAUNCH, "virtual_machines.retrieve_boot_diagnostics_data", "virtual_machines.begin_deallocate",
        "virtual_machines.generalize", "images.begin_create_or_update",
    ),
    "sweep": ("resource_groups.list", "virtual_machines.list", "resource_groups.begin_delete", *_IMAGES),
}

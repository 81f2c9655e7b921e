"""Azure's answers as the Instance the flow reads: the state from the VM's instance view, normalised."""

from __future__ import annotations

import enum

from azure.mgmt.compute import models as cm

from pipe.providers.base import Instance

CLOUD = "azure"


def instance_from(group: str, group_tags: dict[str, str], vm: cm.VirtualMachine, location: str) -> Instance:
    """The Instance a VM of ours is: its group's id and tags (the VM's own win), its size, market and state."""
    return Instance(
        cloud=CLOUD,
        id=group,
        name=vm.name or group,
        region=vm.location or location,
        zone=(vm.zones or [""])[0],
        instance_type=_text(vm.hardware_profile.vm_size if vm.hardware_profile else None),
        spot=_text(vm.priority).lower() == "spot",
        state=_state(vm),
        tags={**group_tags, **(vm.tags or {})},
    )


_POWER_STATES = {
    "starting": "pending",
    "running": "running",
    "stopping": "stopping",
    "deallocating": "stopping",
    "stopped": "stopped",  # stopped but allocated: still billed
    "deallocated": "stopped",  # the disk and IP still bill
}


def _state(vm: cm.VirtualMachine) -> str:
    """pending | running | stopping | stopped, from the instance view when there is one."""
    statuses = [(s.code or "").lower() for s in (vm.instance_view.statuses or [])] if vm.instance_view else []
    provisioning = next((c.split("/", 1)[1] for c in statuses if c.startswith("provisioningstate/")), "")
    provisioning = provisioning or (vm.provisioning_state or "").lower()
    if provisioning == "deleting":
        return "stopping"
    power = next((c.split("/", 1)[1] for c in statuses if c.startswith("powerstate/")), "")
    if power in _POWER_STATES:
        return _POWER_STATES[power]
    if provisioning.startswith("failed"):
        return "stopped"  # a failed VM still holds its disk and NIC: let the sweep delete it
    return "running" if provisioning == "succeeded" and vm.instance_view is None else "pending"



def _text(value: object) -> str:
    """An SDK enum member or string as its plain value."""
    if isinstance(value, enum.Enum):
        return str(value.value)
    return "" if value is None else str(value)


"""FakeAzure behind the one emulated-cloud interface (fakes/emulated.py). One runner's instance is the
resource group the pipe creates for it; its id is the group's name.

The boot payload is the VM's custom data, base64 of the pipe's bytes (gzip or text: cloud-init undoes gzip).
A guest's power-off leaves the VM "stopped", still allocated and billed
(learn.microsoft.com/azure/virtual-machines/states-billing).
"""

from __future__ import annotations

import base64
from typing import Any

from fakes.azure.state import VM_TYPE
from fakes.emulated import Instance, OursFromLive, is_ours

STOPPED = ("stopped", "deallocated", "stopping", "deallocating")


class AzureEmulation(OursFromLive):
    name = "azure"
    requests: list[Any]

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def groups(self) -> list[str]:
        raise NotImplementedError

    def group_tags(self, group: str) -> dict[str, str]:
        raise NotImplementedError

    def resources(self, group: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def resource(self, group: str, type_: str, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def custom_data(self, group: str, vm: str) -> str:
        raise NotImplementedError

    def power_state(self, group: str, vm: str) -> str:
        raise NotImplementedError

    def set_power_state(self, group: str, vm: str, state: str) -> None:
        raise NotImplementedError

    def fail_vm_create(
        self, code: str = "AllocationFailed", *, lro: bool = True, times: int = 1, spot: bool | None = None
    ) -> None:
        raise NotImplementedError

    def cloud_env(self) -> dict[str, str]:
        return {"CLOUD": "azure", **self.env()}

    def _vms(self, group: str) -> list[str]:
        return [name for kind, name in self.resources(group) if kind.lower() == VM_TYPE.lower()]

    def live_instances(self) -> list[Instance]:
        found = []
        for group in self.groups():
            tags = self.group_tags(group)
            vms = self._vms(group)
            if not vms:  # a group holding only a NIC or IP still bills: it counts as a leftover
                found.append(Instance(group, group, "", tags))
            for vm in vms:
                doc = self.resource(group, VM_TYPE, vm)
                props = doc["properties"]
                found.append(
                    Instance(
                        group,
                        vm,
                        str(props.get("hardwareProfile", {}).get("vmSize", "")),
                        {**tags, **(doc.get("tags") or {})},
                        spot=str(props.get("priority", "Regular")).lower() == "spot",
                        disk_gb=int(props.get("storageProfile", {}).get("osDisk", {}).get("diskSizeGB") or 0),
                        zone=",".join(doc.get("zones") or []) or str(doc.get("location", "")),
                        status=str(props.get("provisioningState", "")),
                    )
                )
        return found

    def boot_payloads(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for group in self.groups():
            if not is_ours(self.group_tags(group)):
                continue
            for vm in self._vms(group):
                if self.power_state(group, vm) in STOPPED:
                    continue
                doc = self.resource(group, VM_TYPE, vm)
                if doc["properties"].get("provisioningState", "Succeeded") != "Succeeded":
                    continue
                found[group] = base64.b64decode(self.custom_data(group, vm))
        return found

    def no_capacity(self, *, spot_only: bool = False) -> None:
        # Azure has no zone list to walk (the adapter asks for a regional VM): "every zone" is the region.
        self.fail_vm_create("AllocationFailed", times=100, spot=True if spot_only else None)

    def power_off(self, instance_id: str) -> None:
        for vm in self._vms(instance_id):
            self.set_power_state(instance_id, vm, "stopped")

    def request_count(self) -> int | None:
        return len(self.requests)

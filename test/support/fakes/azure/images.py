"""The local Azure's managed images (Microsoft.Compute/images) and the VM actions a capture needs (deallocate,
generalize), with the rules Azure keeps, each cited. ArmRoutes (routes.py) dispatches to these.

- A guest's power-off leaves the VM "stopped": still allocated and billed
  (learn.microsoft.com/azure/virtual-machines/states-billing); POST .../deallocate frees it ("deallocated").
- POST .../generalize on a running VM is refused: "Operation 'generalize' is not allowed on VM 'myVM' since the VM
  is running..." (MicrosoftDocs/azure-docs#86809, the docs' own steps hit it). A generalized VM reports the
  instance-view status OSState/generalized (ansible/ansible#49704 reads it there).
- PUT of an image whose sourceVirtualMachine is not generalized: 409 OperationNotAllowed "The operation 'Create
  Image' requires the Virtual Machine '<vm>' to be Generalized." (ansible/ansible#37158).
- A managed image holds a generalized OS: "The OS State. For managed images, use Generalized."
  (learn.microsoft.com/python/api/azure-mgmt-compute/azure.mgmt.compute.models.operatingsystemstatetypes):
  a storageProfile.osDisk with osState Specialized is refused here.
- Image names: 1-80 characters, alphanumerics, underscores, periods and hyphens; start with an alphanumeric, end
  with an alphanumeric or underscore (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules,
  Microsoft.Compute/images).
- A VM from a managed image (imageReference.id) needs the image to exist and be made (the OS disk at least the
  image's size, as for marketplace images). The refusal's wording for a missing image is ours, not sourced.
- Trusted Launch by default: from VM API version 2025-11-01 a VM created without securityProfile.securityType is
  TrustedLaunch (Secure Boot and vTPM on) when its image can be, i.e. a Gen2 marketplace image (Azure's "Trusted
  Launch as default" announcement, 2025-05-29: "Set security type as 'TrustedLaunch' by default for new Gen2 VM &
  Scale set deployments"; issue 31 dates it to API 2025-11-01); otherwise, and below that version, Standard, which
  responses from 2025-11-01 name ("If not specified, Standard will be returned starting api version 2025-11-01":
  azure-mgmt-compute's SecurityProfile.security_type). A managed image is no Trusted Launch source ("Managed
  image" is among trusted launch's unsupported features, learn.microsoft.com/azure/virtual-machines/trusted-launch):
  the default leaves it Standard, and an explicit TrustedLaunch on one is refused here (that wording is ours).
- PUT of an image from a TrustedLaunch VM: OperationNotAllowed "Creation of managed images are not supported for
  virtual machine with TrustedLaunch security type." (hashicorp/packer#13189, taskcluster/community-tc-config#936;
  the HTTP status, 409 here as for Azure's other OperationNotAllowed, is not verified).
- An image cannot be deleted while VMs are being provisioned from it: OperationNotAllowedOnVMImageAsVMsBeingProvisioned
  (learn.microsoft.com/azure/azure-resource-manager/troubleshooting/common-deployment-errors). Here the refusal
  comes at once, for the image's DELETE and for its group's (where Azure would fail the group's operation).

- Boot diagnostics is off unless the VM's diagnosticsProfile.bootDiagnostics.enabled is true (MicrosoftDocs/azure-docs
  #33130); POST .../retrieveBootDiagnosticsData answers SAS URIs of the serial log and the screenshot blobs
  (serialConsoleLogBlobUri, consoleScreenshotBlobUri; `az vm boot-diagnostics get-boot-log-uris`, Azure/azure-cli
  #15145), readable with a plain GET until they expire. The refusal's wording for a VM without boot diagnostics is
  ours, not sourced.

Test controls: ``hold_images`` keeps every image made from now on "Creating" (a test stops the pipe meanwhile),
``fail_images`` ends it "Failed"; ``images_made`` lists the ids of images created through PUT.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fakes.azure.state import DEFAULT_IMAGE_OS_DISK_GB, IMAGE_OS_DISK_GB, VM_TYPE, ArmError, _Group

IMAGE_TYPE = "Microsoft.Compute/images"
_IMAGE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
_DEALLOCATED = ("deallocated",)
TRUSTED_LAUNCH_DEFAULT_FROM = "2025-11-01"  # API versions compare as dates: yyyy-mm-dd[-preview]
TRUSTED_LAUNCH_CAPTURE_REFUSED = (
    "Creation of managed images are not supported for virtual machine with TrustedLaunch security type."
)
_BLOB = re.compile(r"^/_bootdiagnostics/(?P<rg>[^/]+)/(?P<vm>[^/]+)/serialconsole\.log$")
_POWERED_OFF = ("stopped", "deallocated")


class ImageRules:
    """Mixed into ArmRoutes: the state is FakeAzure's (server.py resets it)."""

    subscription_id: str
    _groups: dict[str, _Group]
    _power: dict[tuple[str, str], str]
    _generalized: set[tuple[str, str]]
    _consoles: dict[tuple[str, str], str]
    _sas: set[str]
    url: str
    hold_images: bool
    fail_images: bool
    images_made: list[str]

    # -- security type (a VM's PUT) -------------------------------------------------------------------

    def _security_type(self, props: dict[str, Any], api_version: str) -> None:
        profile = props.get("securityProfile") or {}
        image = (props.get("storageProfile") or {}).get("imageReference") or {}
        chosen = profile.get("securityType")
        if chosen and str(chosen).lower() == "trustedlaunch" and image.get("id"):
            raise ArmError(
                400, "InvalidParameter", "Trusted launch VMs cannot be created from a managed image.", "securityType"
            )
        if chosen or api_version[:10] < TRUSTED_LAUNCH_DEFAULT_FROM:
            return
        gen2_marketplace = not image.get("id") and not str(image.get("sku", "")).lower().endswith("gen1")
        if gen2_marketplace:
            profile.update(securityType="TrustedLaunch", uefiSettings={"secureBootEnabled": True, "vTpmEnabled": True})
        else:
            profile["securityType"] = "Standard"
        props["securityProfile"] = profile

    # -- VM actions (POST .../virtualMachines/{vm}/{action}) ---------------------------------------

    def _vm_action_check(self, group: _Group, vm: str, action: str) -> None:
        """Refuses what Azure refuses before accepting the action."""
        key = (group.name.lower(), vm.lower())
        if (VM_TYPE.lower(), vm.lower()) not in group.resources:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{VM_TYPE}/{vm}' was not found.")
        if action == "generalize" and self._power.get(key, "running") not in _POWERED_OFF:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'generalize' is not allowed on VM '{vm}' since the VM is running. Please power off "
                "explicitly in case you shut down the VM from inside the guest operating system.",
            )
        if action not in ("deallocate", "generalize"):
            raise ArmError(405, "MethodNotAllowed", f"VM action {action} is not served")

    def _boot_diagnostics(self, group: _Group, vm: str) -> dict[str, Any]:
        doc = group.resources.get((VM_TYPE.lower(), vm.lower()))
        if doc is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource '{VM_TYPE}/{vm}' was not found.")
        diagnostics = doc["properties"].get("diagnosticsProfile", {}).get("bootDiagnostics", {})
        if not diagnostics.get("enabled"):
            raise ArmError(409, "OperationNotAllowed", f"Boot diagnostics is not enabled for VM '{vm}'.")
        sig = uuid.uuid4().hex
        self._sas.add(sig)
        base = f"{self.url}/_bootdiagnostics/{group.name}/{vm}"
        return {
            "consoleScreenshotBlobUri": f"{base}/screenshot.bmp?sv=2020-04-08&se=2099-01-01&sp=r&sig={sig}",
            "serialConsoleLogBlobUri": f"{base}/serialconsole.log?sv=2020-04-08&se=2099-01-01&sp=r&sig={sig}",
        }

    def _serial_log(self, group: str, vm: str, sig: str) -> tuple[int, dict[str, str], Any]:
        if sig not in self._sas:
            raise ArmError(403, "AuthenticationFailed", "Server failed to authenticate the request.")
        key = (group.lower(), vm.lower())
        if key not in self._consoles:
            raise ArmError(404, "BlobNotFound", "The specified blob does not exist.")
        return 200, {}, self._consoles[key].encode()

    def _vm_action_done(self, group_name: str, vm: str, action: str) -> None:
        key = (group_name.lower(), vm.lower())
        if action == "deallocate":
            self._power[key] = "deallocated"
        elif action == "generalize":
            self._generalized.add(key)

    def _vm_statuses(self, group: _Group, vm: str) -> list[dict[str, Any]]:
        if (group.name.lower(), vm.lower()) in self._generalized:
            return [{"code": "OSState/generalized", "level": "Info", "displayStatus": "VM generalized"}]
        return []

    # -- images (PUT builder) -----------------------------------------------------------------------

    def _image(self, group: _Group, doc: dict[str, Any], props: dict[str, Any]) -> None:
        if not _IMAGE_NAME.fullmatch(doc["name"]):
            raise ArmError(400, "InvalidResourceName", f"Resource name {doc['name']} is invalid.", "name")
        os_disk = (props.get("storageProfile") or {}).get("osDisk") or {}
        if os_disk and str(os_disk.get("osState", "")).lower() != "generalized":
            raise ArmError(
                400, "InvalidParameter", "Managed images hold a generalized OS: osState must be Generalized.", "osState"
            )
        source = (props.get("sourceVirtualMachine") or {}).get("id")
        if not source and not os_disk:
            raise ArmError(400, "InvalidParameter", "Either sourceVirtualMachine or storageProfile is required.")
        disk_gb = int(os_disk.get("diskSizeGB") or 0)
        if source:
            vm_group, vm = self._source_vm(source)
            vm_name = vm["name"]
            if (vm_group.name.lower(), vm_name.lower()) not in self._generalized:
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The operation 'Create Image' requires the Virtual Machine '{vm_name}' to be Generalized.",
                )
            security = (vm["properties"].get("securityProfile") or {}).get("securityType")
            if str(security or "").lower() == "trustedlaunch":
                raise ArmError(409, "OperationNotAllowed", TRUSTED_LAUNCH_CAPTURE_REFUSED)
            vm_disk = vm["properties"].get("storageProfile", {}).get("osDisk", {})
            disk_gb = int(vm_disk.get("diskSizeGB") or 0) or self._marketplace_gb(vm)
        props["storageProfile"] = {
            "osDisk": {"osType": "Linux", "osState": "Generalized", "diskSizeGB": disk_gb, "caching": "ReadWrite"},
            "dataDisks": [],
        }
        props.setdefault("hyperVGeneration", "V2")
        self.images_made.append(doc["id"])

    def _image_outcome(self) -> str:
        """The provisioning state an image ends in, as the test controls say."""
        return "Failed" if self.fail_images else "Creating" if self.hold_images else "Succeeded"

    def _source_vm(self, rid: str) -> tuple[_Group, dict[str, Any]]:
        m = re.match(
            r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.compute/"
            r"virtualmachines/(?P<name>[^/]+)$",
            rid,
            re.I,
        )
        group = self._groups.get(m["rg"].lower()) if m and m["sub"] == self.subscription_id else None
        vm = group.resources.get((VM_TYPE.lower(), m["name"].lower())) if group and m else None
        if group is None or vm is None:
            raise ArmError(
                400, "InvalidResourceReference", f"Virtual machine {rid!r} referenced by the image was not found."
            )
        return group, vm

    def _marketplace_gb(self, vm: dict[str, Any]) -> int:
        image = vm["properties"].get("storageProfile", {}).get("imageReference") or {}
        key = (str(image.get("publisher", "")).lower(), str(image.get("offer", "")).lower())
        return IMAGE_OS_DISK_GB.get(key, DEFAULT_IMAGE_OS_DISK_GB)

    def _check_images_deletable(self, group: _Group, name: str | None = None) -> None:
        """Refuses to delete an image of the group (name, or any) that a VM is being provisioned from."""
        for image in [r for r in group.resources.values() if r["type"] == IMAGE_TYPE]:
            if name is not None and image["name"].lower() != name.lower():
                continue
            for other in self._groups.values():
                for vm in [r for r in other.resources.values() if r["type"] == VM_TYPE]:
                    reference = vm["properties"].get("storageProfile", {}).get("imageReference") or {}
                    creating = vm["properties"].get("provisioningState") in ("Creating", "Updating")
                    if creating and str(reference.get("id", "")).lower() == image["id"].lower():
                        raise ArmError(
                            409,
                            "OperationNotAllowedOnVMImageAsVMsBeingProvisioned",
                            f"Operation not allowed on image '{image['name']}' as VMs are being provisioned from it "
                            f"(VM '{vm['name']}'). Retry after the VM deployments complete.",
                        )

    # -- VMs from a managed image ---------------------------------------------------------------------

    def _managed_image_gb(self, image_id: str, location: str) -> int:
        """The OS disk size of the managed image a VM boots, which must exist and be made."""
        m = re.match(
            r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/microsoft\.compute/"
            r"images/(?P<name>[^/]+)$",
            image_id,
            re.I,
        )
        group = self._groups.get(m["rg"].lower()) if m and m["sub"] == self.subscription_id else None
        image = group.resources.get((IMAGE_TYPE.lower(), m["name"].lower())) if group and m else None
        if image is None or image["properties"].get("provisioningState") != "Succeeded":
            raise ArmError(
                400,
                "InvalidParameter",
                f"The Image '{image_id}' cannot be found in '{location}' region.",
                "imageReference",
            )
        return int(image["properties"]["storageProfile"]["osDisk"].get("diskSizeGB") or 0)

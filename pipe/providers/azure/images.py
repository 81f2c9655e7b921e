"""Managed images of ours on Azure (COMMAND: bake): captured from the bake's stopped VM, one resource group per
image, listed and deleted with that group. Plain functions on the SDK's clients, called by AzureProvider.

Why a managed image of a generalized VM (and not a specialized one, or a gallery image version):
- bake.sh cleared cloud-init's per-instance state, the machine id and the SSH host keys: the disk is generalized
  in the Linux sense (what `waagent -deprovision` does), and every runner VM booted from it must be provisioned
  anew: computer name, admin user and, above all, the custom data that carries the runner's boot script. Only a
  generalized image takes an osProfile; a VM from a specialized disk has none (MicrosoftDocs/azure-docs#21850),
  so it could not receive the boot script at all. And "For managed images, use Generalized"
  (learn.microsoft.com/python/api/azure-mgmt-compute/azure.mgmt.compute.models.operatingsystemstatetypes).
- A gallery image version would also need a gallery and an image definition: two more resources to create,
  tag, sweep and roll back, for replication we do not use (a baked image serves one repository in one region).
  The price: a managed image cannot be captured from a Trusted Launch VM ("Creation of managed images are not
  supported for virtual machine with TrustedLaunch security type", hashicorp/packer#13189), which VMs are by
  default from VM API 2025-11-01, so the bake's VM and the runners booted from its image are created with
  securityType Standard (request.standard_security).

The capture is Azure's documented sequence (learn.microsoft.com/azure/virtual-machines/capture-image-resource,
"Create a managed image of a generalized VM"): deallocate, generalize, create the image from the VM.
- Deallocate first: a guest that powered itself off is "stopped" but still allocated and billed
  (learn.microsoft.com/azure/virtual-machines/states-billing), and Azure refuses to generalize a VM it
  considers running ("Operation 'generalize' is not allowed on VM ... since the VM is running",
  MicrosoftDocs/azure-docs#86809).
- Generalize: "The operation 'Create Image' requires the Virtual Machine '<vm>' to be Generalized"
  (ansible/ansible#37158). A generalized VM can never start again: the bake deletes it anyway.
- The image goes into a resource group of its own, named as the image and tagged like it, because the bake's VM
  group is deleted whole once the image exists (the VM, its OS disk, NIC, public IP, VNet and NSG with it): the
  image is independent of its source VM once made. Deleting the image's group deletes the image.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.mgmt.compute import models as cm
from azure.mgmt.resource.resources import models as rm

from pipe.providers.azure.instances import CLOUD
from pipe.providers.azure.polling import finish
from pipe.providers.base import (
    ROLE_BAKED_IMAGE,
    TAG_BAKE_ID,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    TAG_ROLE,
    Instance,
    MachineImage,
    ProviderError,
)

log = logging.getLogger("pipe.providers.azure")

# Image.provisioningState -> MachineImage.state; anything else (Failed, Canceled) is "failed".
_STATE = {"succeeded": "available", "creating": "pending", "updating": "pending", "accepted": "pending",
          "deleting": "pending"}  # fmt: skip
_IMAGE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/Microsoft\.Compute/images/"
    r"(?P<name>[^/]+)$",
    re.IGNORECASE,
)

Fail = Callable[[Exception, str], ProviderError]


def image_id(subscription_id: str, group: str, name: str) -> str:
    return f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/Microsoft.Compute/images/{name}"


def is_image_id(text: str) -> bool:
    """A managed image's resource id: what runner mode boots when it finds a baked image of ours."""
    return bool(_IMAGE_ID.match(text))


def is_image_group(tags: dict[str, str]) -> bool:
    """A resource group of ours that holds a baked image (not a runner's or a bake's VM)."""
    return tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE and tags.get(TAG_ROLE) == ROLE_BAKED_IMAGE


def capture(
    compute: Any, resources: Any, *, region: str, subscription_id: str, instance: Instance, name: str,
    tags: dict[str, str], fail: Fail,
) -> MachineImage:  # fmt: skip
    """Deallocate and generalize the bake's stopped VM, then start making the image in a group of its own; the
    group and the image carry the tags (the bake's id among them: a stop mid-call leaves nothing untraceable)."""
    group, vm = instance.id, instance.name
    source = f"/subscriptions/{subscription_id}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}"
    log.info("Deallocating VM %s (a guest's power-off leaves it allocated) and marking it generalized", vm)
    try:
        finish(compute.virtual_machines.begin_deallocate(group, vm), f"Azure to deallocate VM {vm}")
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, f"deallocate VM {vm}") from exc
    try:
        compute.virtual_machines.generalize(group, vm)
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, f"generalize VM {vm}") from exc
    try:
        resources.resource_groups.create_or_update(name, rm.ResourceGroup(location=region, tags=tags))
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, f"create resource group {name} for the image") from exc
    image = cm.Image(
        location=region,
        tags=tags,
        properties=cm.ImageProperties(source_virtual_machine=cm.SubResource(id=source)),
    )
    try:  # polling=False: the bake's flow polls image() itself, and can be stopped meanwhile
        compute.images.begin_create_or_update(name, name, image, polling=False)
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, f"create image {name} from VM {vm}") from exc
    return MachineImage(CLOUD, image_id(subscription_id, name, name), name, "pending", dict(tags))


def read(compute: Any, found_id: str, fail: Fail) -> MachineImage | None:
    m = _IMAGE_ID.match(found_id)
    if m is None:
        return None
    try:
        raw = compute.images.get(m["group"], m["name"])
    except ResourceNotFoundError:
        return None
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, f"read image {m['name']}") from exc
    return _image_from(raw, found_id)


def ours(compute: Any, resources: Any, subscription_id: str, repository_tag: str, fail: Fail) -> list[MachineImage]:
    """This repository's image groups (one listing), then each group's images. A group of ours without an image
    (a capture cut short between the group and the image) is reported as a failed image: the sweep deletes it."""
    found: list[MachineImage] = []
    for group, tags in _image_groups(resources, fail):
        if tags.get(TAG_REPOSITORY) != repository_tag:
            continue
        try:
            images = list(compute.images.list_by_resource_group(group))
        except ResourceNotFoundError:
            continue  # deleted since it was listed
        except (HttpResponseError, ServiceRequestError) as exc:
            raise fail(exc, f"list images in resource group {group}") from exc
        if not images:
            found.append(MachineImage(CLOUD, image_id(subscription_id, group, group), group, "failed", tags))
        for raw in images:
            found.append(_image_from(raw, image_id(subscription_id, group, str(raw.name)), tags))
    return found


def delete(resources: Any, image: MachineImage, repository_tag: str, fail: Fail) -> None:
    """Delete the image's group (the image with it), only when the group is an image group of ours for this
    repository; a missing one is not an error."""
    m = _IMAGE_ID.match(image.id)
    if m is None:
        raise ProviderError(f"{image.id!r} is not an Azure managed image id; not deleting anything")
    _delete_group(resources, m["group"], repository_tag, fail)


def delete_of_bake(resources: Any, repository_tag: str, bake_id: str, fail: Fail) -> None:
    """Every image group one bake made (by its TAG_BAKE_ID), with whatever image it holds."""
    for group, tags in _image_groups(resources, fail):
        if tags.get(TAG_REPOSITORY) == repository_tag and tags.get(TAG_BAKE_ID) == bake_id:
            _delete_group(resources, group, repository_tag, fail)


def _image_groups(resources: Any, fail: Fail) -> list[tuple[str, dict[str, str]]]:
    flt = f"tagName eq '{TAG_ROLE}' and tagValue eq '{ROLE_BAKED_IMAGE}'"
    try:
        groups = list(resources.resource_groups.list(filter=flt))
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, "list resource groups") from exc
    return [
        (str(g.name), dict(g.tags or {}))
        for g in groups
        if g.name
        and is_image_group(dict(g.tags or {}))
        and not (g.properties and (g.properties.provisioning_state or "").lower() == "deleting")
    ]


def _delete_group(resources: Any, group: str, repository_tag: str, fail: Fail) -> None:
    try:
        existing = resources.resource_groups.get(group)
    except ResourceNotFoundError:
        return
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, f"read resource group {group}") from exc
    tags = dict(existing.tags or {})
    if not is_image_group(tags) or tags.get(TAG_REPOSITORY) != repository_tag:
        raise ProviderError(
            f"Resource group {group} is not tagged as a baked image of this repository's; not deleting it"
        )
    log.info("Deleting resource group %s (baked image %s with it)", group, group)
    try:
        finish(resources.resource_groups.begin_delete(group), f"Azure to delete resource group {group}")
    except ResourceNotFoundError:
        return
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, f"delete resource group {group}") from exc


def _image_from(raw: Any, found_id: str, group_tags: dict[str, str] | None = None) -> MachineImage:
    state = str((raw.properties.provisioning_state if raw.properties else "") or "").lower()
    return MachineImage(
        cloud=CLOUD,
        id=str(raw.id or found_id),
        name=str(raw.name or ""),
        state=_STATE.get(state, "failed"),
        tags={**(group_tags or {}), **(raw.tags or {})},
    )


def serial_console(
    compute: Any, instance: Instance, verify: str | bool, fail: Callable[[Exception, str], ProviderError]
) -> str:
    """The VM's serial log through boot diagnostics (managed storage, enabled on bake VMs: request.py): ARM hands a
    short-lived SAS URI of the log blob (virtualMachines/retrieveBootDiagnosticsData), read with a plain GET. ''
    while Azure has no log yet."""
    action = f"read the serial log of VM {instance.name}"
    try:
        found = compute.virtual_machines.retrieve_boot_diagnostics_data(
            instance.id, instance.name, sas_uri_expiration_time_in_minutes=5
        )
    except (HttpResponseError, ServiceRequestError) as exc:
        raise fail(exc, action) from exc
    uri = getattr(found, "serial_console_log_blob_uri", None)
    if not uri:
        return ""
    import requests  # only a bake reads a console

    try:
        answer = requests.get(uri, timeout=30, verify=verify)
    except requests.RequestException as exc:
        raise ProviderError(f"Azure: could not {action} ({type(exc).__name__})") from None
    if answer.status_code == 404:
        return ""
    if answer.status_code != 200:
        raise ProviderError(f"Azure: could not {action} (HTTP {answer.status_code} from its boot diagnostics blob)")
    return answer.content.decode("utf-8", "replace")

"""IAM on the local Compute Engine: the permissions each route needs, checked against the caller's list.

A test sets `FakeGcp.allow(permissions)`; from then on a request is served only when every permission it needs
is in the list, else answered as Compute answers it: HTTP 403, reason "forbidden", "Required '<permission>'
permission for '<resource>'". `allow(None)` (the default) checks nothing.

Each method's own permission is the one its REST reference page names ("Requires the following IAM permission",
cloud.google.com/compute/docs/reference/rest/v1/<resource>/<method>; aggregatedList needs the list permission,
operations.wait the get permission). instances.insert also needs the permissions of what the request asks for
(cloud.google.com/compute/docs/instances/create-start-instance, "Required roles": compute.instances.create;
compute.disks.create for the boot disk; compute.images.useReadOnly for an image of the project;
compute.subnetworks.use, and compute.subnetworks.useExternalIp for an external IP, on a VPC network's subnetwork,
the auto-mode default network's included (compute.networks.use and compute.networks.useExternalIp are for legacy
networks only, cloud.google.com/compute/docs/access/create-enable-service-accounts-for-instances, "Required
permissions"); compute.instances.setMetadata, setTags, setLabels; compute.instances.setServiceAccount and
iam.serviceAccounts.actAs for a service account).
images.insert from a disk also needs compute.disks.useReadOnly (cloud.google.com/compute/docs/images/
create-custom, "Required roles"); firewalls.insert also needs compute.networks.updatePolicy
(cloud.google.com/firewall/docs/using-firewalls, "Required roles").
Resources of another project (public images: "any authenticated user can use public images",
cloud.google.com/compute/docs/images#os-compute-support) are not ours to check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Discovery method id -> the permission its REST reference names.
OWN_PERMISSION: dict[str, str] = {
    "compute.instances.insert": "compute.instances.create",
    "compute.instances.list": "compute.instances.list",
    "compute.instances.get": "compute.instances.get",
    "compute.instances.delete": "compute.instances.delete",
    "compute.instances.aggregatedList": "compute.instances.list",
    "compute.instances.getSerialPortOutput": "compute.instances.getSerialPortOutput",
    "compute.zoneOperations.get": "compute.zoneOperations.get",
    "compute.zoneOperations.wait": "compute.zoneOperations.get",
    "compute.globalOperations.get": "compute.globalOperations.get",
    "compute.globalOperations.wait": "compute.globalOperations.get",
    "compute.images.getFromFamily": "compute.images.getFromFamily",
    "compute.images.get": "compute.images.get",
    "compute.images.insert": "compute.images.create",
    "compute.images.list": "compute.images.list",
    "compute.images.delete": "compute.images.delete",
    "compute.machineTypes.list": "compute.machineTypes.list",
    "compute.machineTypes.aggregatedList": "compute.machineTypes.list",
    "compute.zones.list": "compute.zones.list",
    "compute.firewalls.get": "compute.firewalls.get",
    "compute.firewalls.insert": "compute.firewalls.create",
    "compute.routers.list": "compute.routers.list",
    # The quota reads (issue 29): regions.get and projects.get need compute.regions.get and compute.projects.get
    # (Compute Engine IAM permissions reference; both are in roles/compute.viewer).
    "compute.regions.get": "compute.regions.get",
    "compute.projects.get": "compute.projects.get",
}


def required(method_id: str, params: Mapping[str, str], body: Any, project: str) -> list[str]:
    """The permissions this request needs in `project` (the caller's own project)."""
    if params.get("project", project) != project:
        return []
    needed = [OWN_PERMISSION[method_id]]
    body = body if isinstance(body, dict) else {}
    if method_id == "compute.instances.insert":
        needed += _insert_side_permissions(body, project)
    if method_id == "compute.images.insert" and body.get("sourceDisk"):
        needed.append("compute.disks.useReadOnly")
    if method_id == "compute.firewalls.insert":
        needed.append("compute.networks.updatePolicy")
    return needed


def _insert_side_permissions(body: Mapping[str, Any], project: str) -> list[str]:
    needed = []
    for disk in body.get("disks", []):
        params = disk.get("initializeParams") or {}
        if params:
            needed.append("compute.disks.create")
        if f"projects/{project}/" in str(params.get("sourceImage", "")):
            needed.append("compute.images.useReadOnly")
    for nic in body.get("networkInterfaces", []):  # a VPC network's (this fake has no legacy network)
        needed.append("compute.subnetworks.use")
        if nic.get("accessConfigs"):
            needed.append("compute.subnetworks.useExternalIp")
    if (body.get("metadata") or {}).get("items"):
        needed.append("compute.instances.setMetadata")
    if (body.get("tags") or {}).get("items"):
        needed.append("compute.instances.setTags")
    if body.get("labels"):
        needed.append("compute.instances.setLabels")
    if body.get("serviceAccounts"):
        needed += ["compute.instances.setServiceAccount", "iam.serviceAccounts.actAs"]
    return needed


def resource_of(path: str) -> str:
    """The resource a refusal names: the request's path without a trailing method."""
    return path.removesuffix("/wait")

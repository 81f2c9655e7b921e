"""GCP: the IAM permissions of every Compute Engine call the pipe makes (pipe/providers/gcp/), by method id.

Each method's own permission is the one its REST reference names ("Requires the following IAM permission",
cloud.google.com/compute/docs/reference/rest/v1); instances.insert also needs those of what it asks for
(cloud.google.com/compute/docs/instances/create-start-instance, "Required roles": the boot disk, the image of the
project, the subnetwork and its external IP, metadata, tags, labels, and a service account with
CLOUD_PERMISSION_SET; compute.networks.use and compute.networks.useExternalIp instead on a legacy network, which
these files leave out, cloud.google.com/compute/docs/access/create-enable-service-accounts-for-instances);
images.insert from a disk needs compute.disks.useReadOnly
(cloud.google.com/compute/docs/images/create-custom); firewalls.insert needs compute.networks.updatePolicy
(cloud.google.com/firewall/docs/using-firewalls). The test stand-in checks the same (test/support/fakes/gcp/iam.py).
"""

from __future__ import annotations

CALLS: dict[str, tuple[str, ...]] = {
    "machineTypes.aggregatedList": ("compute.machineTypes.list",),
    "images.get": ("compute.images.get",),
    "images.getFromFamily": ("compute.images.getFromFamily",),
    "instances.insert": (
        "compute.instances.create",
        "compute.disks.create",
        "compute.images.useReadOnly",
        "compute.subnetworks.use",
        "compute.subnetworks.useExternalIp",
        "compute.instances.setMetadata",
        "compute.instances.setTags",
        "compute.instances.setLabels",
        "compute.instances.setServiceAccount",
        "iam.serviceAccounts.actAs",
    ),
    "instances.get": ("compute.instances.get",),
    "instances.getSerialPortOutput": ("compute.instances.getSerialPortOutput",),  # the bake's success line
    "instances.aggregatedList": ("compute.instances.list",),
    "instances.delete": ("compute.instances.delete",),
    "zoneOperations.wait": ("compute.zoneOperations.get",),
    "globalOperations.wait": ("compute.globalOperations.get",),
    "firewalls.get": ("compute.firewalls.get",),
    "firewalls.insert": ("compute.firewalls.create", "compute.networks.updatePolicy"),
    "routers.list": ("compute.routers.list",),
    "images.insert": ("compute.images.create", "compute.disks.useReadOnly"),
    "images.list": ("compute.images.list",),
    "images.delete": ("compute.images.delete",),
}

_LAUNCH = (
    "machineTypes.aggregatedList",
    "images.get",
    "images.getFromFamily",
    "images.list",  # a baked image of ours
    "firewalls.get",
    "firewalls.insert",
    "globalOperations.wait",
    "routers.list",
    "instances.insert",
    "instances.get",
    "instances.aggregatedList",
    "instances.delete",  # the rollback, and retiring leftovers
    "zoneOperations.wait",
)
_IMAGES = ("images.list", "images.delete", "globalOperations.wait")

MODES: dict[str, tuple[str, ...]] = {
    "runner": _LAUNCH,
    "bake": (*_LAUNCH, "instances.getSerialPortOutput", "images.insert", *_IMAGES),
    "sweep": ("instances.aggregatedList", "instances.delete", "zoneOperations.wait", *_IMAGES),
}

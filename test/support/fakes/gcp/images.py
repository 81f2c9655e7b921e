"""The fake's image methods that make and remove images (COMMAND: bake), and the disks it keeps beside instances.

Rules kept, each as Compute Engine has it:
- images.insert from a ``sourceDisk`` only (the one source the pipe uses; the others are refused here). The disk
  must exist; a disk attached to an instance that is not stopped (TERMINATED/STOPPED/SUSPENDED) is refused
  unless ``forceCreate=true``: "The disk resource '...' is already being used by '...'" (HTTP 400, reason
  resourceInUseByAnotherResource; the text as users met it: ansible/ansible#61634; ``forceCreate`` "Force image
  creation if true" in https://cloud.google.com/compute/docs/reference/rest/v1/images/insert, which Google's
  sample explains as "proceeds even if the disk is attached to a running instance":
  https://cloud.google.com/compute/docs/samples/compute-images-create).
- The image name and the family comply with RFC1035: ``[a-z]([-a-z0-9]*[a-z0-9])?``, 1-63 characters (the
  discovery document's Image.name and Image.family); a second image of the same name is a 409.
- Labels: at most 64; keys 1-63 characters of lowercase letters, digits, '_' and '-', starting with a letter;
  values 0-63 of the same characters (https://cloud.google.com/compute/docs/labeling-resources, "Requirements
  for labels").
- An image is PENDING while its (global) insert operation runs, then READY, or FAILED when the operation fails
  (Image.status: "FAILED, PENDING, or READY"). ``hold_pending`` keeps new images PENDING until
  ``release_images()``; ``fail_new`` makes them FAILED. A PENDING image cannot be deleted yet: "The resource
  '.../global/images/NAME' is not ready" (HTTP 400 resourceNotReady, GCE's answer for an image still being
  made: ZcashFoundation/zebra#5044).
- A boot disk lives as long as its instance when ``autoDelete`` is true (the default the pipe sets), and
  stays, detached, when it is false (https://cloud.google.com/compute/docs/reference/rest/v1/instances,
  disks[].autoDelete: "whether the disk will be auto-deleted when the instance is deleted").
"""

from __future__ import annotations

import copy
import re
from typing import Any

from fakes.gcp.state import _NAME, ApiError, GcpState, ImageRules, _last, _matches, _now, parse_filter

STOPPED = ("TERMINATED", "STOPPED", "SUSPENDED")
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
MAX_LABELS = 64


# ---- disks ----------------------------------------------------------------------------------


def add_disks(s: GcpState, project: str, zone: str, instance: dict[str, Any], params: list[dict[str, Any]]) -> None:
    """The persistent disks an instance insert creates (one per attached disk, named as the API names them)."""
    for disk, init in zip(instance.get("disks", []), params, strict=True):
        name = _last(disk["source"])
        s.disks[(project, zone, name)] = {
            "kind": "compute#disk",
            "id": s.next_id(),
            "creationTimestamp": _now(),
            "name": name,
            "sizeGb": disk["diskSizeGb"],
            "zone": s.link(f"projects/{project}/zones/{zone}"),
            "status": "READY",
            "sourceImage": init.get("sourceImage", ""),
            "type": s.link(f"projects/{project}/zones/{zone}/diskTypes/{_last(init.get('diskType', 'pd-standard'))}"),
            "labels": dict(init.get("labels") or {}),
            "selfLink": disk["source"],
            "users": [instance["selfLink"]],
        }


def release_disks(s: GcpState, project: str, zone: str, instance: dict[str, Any]) -> None:
    """The instance is gone: its auto-delete disks go with it, the others stay, detached."""
    for disk in instance.get("disks", []):
        key = (project, zone, _last(disk["source"]))
        if disk.get("autoDelete"):
            s.disks.pop(key, None)
        elif key in s.disks:
            s.disks[key]["users"] = [u for u in s.disks[key]["users"] if u != instance["selfLink"]]


def _disk_from(s: GcpState, link: str) -> tuple[tuple[str, str, str], dict[str, Any]]:
    path = re.sub(r"^https://[^/]+/compute/v1/", "", link)
    match = re.fullmatch(r"(?:projects/([^/]+)/)?zones/([^/]+)/disks/([^/]+)", path)
    if not match:
        raise ApiError(400, f"Invalid value for field 'resource.sourceDisk': '{link}'. The URL is malformed.")
    key = (match.group(1) or s.project, match.group(2), match.group(3))
    disk = s.disks.get(key)
    if disk is None:
        raise ApiError(404, f"The resource 'projects/{key[0]}/zones/{key[1]}/disks/{key[2]}' was not found")
    return key, disk


def _check_labels(labels: dict[str, Any]) -> None:
    if len(labels) > MAX_LABELS:
        raise ApiError(400, f"Invalid value for field 'resource.labels': at most {MAX_LABELS} labels, got "
                       f"{len(labels)}.")  # fmt: skip
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key) or not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
            raise ApiError(400, f"Invalid value for field 'resource.labels': '{key}={value}'. Label keys and values "
                           "can only contain lowercase letters, numeric characters, underscores and dashes; keys "
                           "start with a lowercase letter; at most 63 characters.")  # fmt: skip


# ---- handlers (api: routes.ComputeApi) --------------------------------------------------------


def images_insert(api: Any, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
    s: GcpState = api.s
    project = p["project"]
    api._check_project(project)
    request_id = q.get("requestId", "")
    with s.lock:
        if request_id and request_id in s.request_ids:
            return copy.deepcopy(s.request_ids[request_id])
    name = str(body.get("name", ""))
    if not _NAME.match(name):
        raise ApiError(400, f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex "
                       "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
    family = body.get("family")
    if family is not None and not _NAME.match(str(family)):
        raise ApiError(400, f"Invalid value for field 'resource.family': '{family}'. Must be a match of regex "
                       "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
    _check_labels(dict(body.get("labels") or {}))
    if any(body.get(k) for k in ("sourceImage", "sourceSnapshot", "rawDisk")) or not body.get("sourceDisk"):
        raise ApiError(400, "This fake makes images from a sourceDisk only (the pipe's one way).")
    force = q.get("forceCreate", "").lower() == "true"
    with s.lock:
        key, disk = _disk_from(s, str(body["sourceDisk"]))
        for user in disk["users"]:
            instance = s.instances.get((key[0], key[1], _last(user)))
            if instance is not None and instance.get("status") not in STOPPED and not force:
                raise ApiError(
                    400,
                    f"The disk resource 'projects/{key[0]}/zones/{key[1]}/disks/{key[2]}' is already being used by "
                    f"'projects/{key[0]}/zones/{key[1]}/instances/{_last(user)}'",
                    "resourceInUseByAnotherResource",
                )
        if (project, name) in s.images:
            raise ApiError(409, f"The resource 'projects/{project}/global/images/{name}' already exists")
        image: dict[str, Any] = {
            **copy.deepcopy(body),
            "kind": "compute#image",
            "id": s.next_id(),
            "creationTimestamp": _now(),
            "selfLink": s.link(f"projects/{project}/global/images/{name}"),
            "sourceDisk": disk["selfLink"],
            "sourceDiskId": disk["id"],
            "sourceType": "RAW",
            "status": "PENDING",
            "diskSizeGb": disk["sizeGb"],
            "storageLocations": ["us"],
            "labelFingerprint": "42WmSpB8rSM=",
            "architecture": "X86_64",
        }
        s.images[(project, name)] = image
        rules: ImageRules = s.image_rules
        rules.created.append(name)
        op_fault = s.take_fault("images.insert", None, None, op=True)
        failed = rules.fail_new or op_fault is not None
        held = rules.hold_pending and not failed

        def finish() -> None:
            if failed:
                image["status"] = "FAILED"
            elif held:
                rules.held.append((project, name))
            else:
                image["status"] = "READY"

        op = _global_operation(s, project, "insert", name, image["id"], finish)
        rules.operations[(project, name)] = op["name"]
        if failed:
            operation = s.operations[(project, "", op["name"])]
            message = op_fault.message if op_fault and op_fault.message else "Image creation failed (injected)"
            operation.error = {"code": op_fault.op_error if op_fault else "INTERNAL_ERROR", "message": message}
            operation.http_status = (op_fault.status if op_fault else 0) or 500
        if request_id:
            s.request_ids[request_id] = op
        return copy.deepcopy(op)


def images_get(api: Any, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
    """An image being made advances with time, not only when its operation is polled: each read is a step."""
    s: GcpState = api.s
    with s.lock:
        operation = s.image_rules.operations.get((p["project"], p["image"]))
        if operation and (p["project"], "", operation) in s.operations:
            s.advance(p["project"], "", operation)
    return dict(api._image(p["project"], p["image"]))


def images_list(api: Any, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
    s: GcpState = api.s
    api._check_project(p["project"])
    terms = parse_filter(q.get("filter", ""))
    with s.lock:
        found = [copy.deepcopy(i) for (proj, _), i in sorted(s.images.items()) if proj == p["project"]
                 and _matches(i, terms)]  # fmt: skip
    page, token = api._page(found, q)
    out: dict[str, Any] = {"kind": "compute#imageList", "id": f"projects/{p['project']}/global/images", "items": page}
    if token:
        out["nextPageToken"] = token
    return out


def images_delete(api: Any, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
    s: GcpState = api.s
    project, name = p["project"], p["image"]
    api._check_project(project)
    with s.lock:
        image = s.images.get((project, name))
        if image is None:
            raise ApiError(404, f"The resource 'projects/{project}/global/images/{name}' was not found")
        if image["status"] == "PENDING":
            raise ApiError(400, f"The resource 'projects/{project}/global/images/{name}' is not ready",
                           "resourceNotReady")  # fmt: skip
        image["status"] = "DELETING"

        def finish() -> None:
            s.images.pop((project, name), None)

        return copy.deepcopy(_global_operation(s, project, "delete", name, image["id"], finish))


def _global_operation(s: GcpState, project: str, kind: str, name: str, target_id: str, finish: Any) -> dict[str, Any]:
    link = s.link(f"projects/{project}/global/images/{name}")
    return s._operation(project, "", kind, link, target_id, s.op_polls_by_kind.get(kind, s.op_polls), finish)


ROUTES: list[tuple[str, str, str]] = [
    ("POST", "projects/{project}/global/images", "compute.images.insert"),
    ("GET", "projects/{project}/global/images", "compute.images.list"),
    ("DELETE", "projects/{project}/global/images/{image}", "compute.images.delete"),
]
HANDLERS = {
    "compute.images.insert": images_insert,
    "compute.images.get": images_get,
    "compute.images.list": images_list,
    "compute.images.delete": images_delete,
}

"""A local stand-in for the Compute Engine v1 REST API, for tests and the demo.

Real HTTP on 127.0.0.1 (stdlib ThreadingHTTPServer), stateful, serving only the
routes the GCP adapter uses. The real ``google-cloud-compute`` client talks to it
with ``client_options={"api_endpoint": server.url}``, AnonymousCredentials and
``transport="rest"``.

Faithful where it matters to the adapter:
- operations go PENDING -> RUNNING -> DONE over polls (``zoneOperations.get``
  and ``zoneOperations.wait`` each advance one step), so callers really wait;
- ids are decimal strings and int64 fields are sent as strings;
- egress as a real project has it: an instance with neither an external IP (accessConfigs) nor a
  Cloud NAT on its network's router in its region has no way to the internet
  (cloud.google.com/compute/docs/ip-addresses: "If no external IP address is configured on the
  instance, Cloud NAT can be used"); the fake accepts the insert, as the API does, and records it
  (``has_egress()``), so the VM stand-in of the tests never reaches Bitbucket from it;
- errors use Google's JSON error shape (``error.code/message/errors[].reason``);
- request bodies and query parameters are checked against Google's discovery
  document for compute v1 (shipped in google-api-python-client) and rejected
  with 400 like the real API rejects unknown names;
- insert enforces the rules that bite in production: guest accelerators, and machine
  types with built-in GPUs (g2, a2, a3...), need ``onHostMaintenance: TERMINATE``, Spot needs TERMINATE and no automatic
  restart, ``maxRunDuration`` needs ``instanceTerminationAction``.

Control API (tests): ``capacity()``, ``fail()``, ``fail_operation()``,
``slow_operations()``, ``add_image()``, ``add_router()``, ``firewalls()``, ``has_egress()``, ``set_machine_types()``,
``add_instance()``, ``instances()``, ``requests``, ``reset()``.

Demo: ``python -m fakes.gcp --port 8090`` (with ``test/`` on sys.path).
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import functools
import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/compute/v1/"
SELF_LINK_BASE = "https://www.googleapis.com/compute/v1/"  # what the real API puts in selfLinks

# (HTTP method, discovery path template, discovery method id): exactly what this fake serves.
ROUTES: list[tuple[str, str, str]] = [
    ("POST", "projects/{project}/zones/{zone}/instances", "compute.instances.insert"),
    ("GET", "projects/{project}/zones/{zone}/instances", "compute.instances.list"),
    ("GET", "projects/{project}/zones/{zone}/instances/{instance}", "compute.instances.get"),
    ("DELETE", "projects/{project}/zones/{zone}/instances/{instance}", "compute.instances.delete"),
    ("GET", "projects/{project}/aggregated/instances", "compute.instances.aggregatedList"),
    ("GET", "projects/{project}/zones/{zone}/operations/{operation}", "compute.zoneOperations.get"),
    ("POST", "projects/{project}/zones/{zone}/operations/{operation}/wait", "compute.zoneOperations.wait"),
    ("GET", "projects/{project}/global/images/family/{family}", "compute.images.getFromFamily"),
    ("GET", "projects/{project}/global/images/{image}", "compute.images.get"),
    ("GET", "projects/{project}/zones/{zone}/machineTypes", "compute.machineTypes.list"),
    ("GET", "projects/{project}/aggregated/machineTypes", "compute.machineTypes.aggregatedList"),
    ("GET", "projects/{project}/zones", "compute.zones.list"),
    ("GET", "projects/{project}/global/firewalls/{firewall}", "compute.firewalls.get"),
    ("POST", "projects/{project}/global/firewalls", "compute.firewalls.insert"),
    ("GET", "projects/{project}/global/operations/{operation}", "compute.globalOperations.get"),
    ("POST", "projects/{project}/global/operations/{operation}/wait", "compute.globalOperations.wait"),
    ("GET", "projects/{project}/regions/{region}/routers", "compute.routers.list"),
]

_ROUTE_PATTERNS = [
    (method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), mid) for method, path, mid in ROUTES
]

DEFAULT_PROJECT = "cml-test"
DEFAULT_ZONES: dict[str, list[str]] = {
    "us-west1": ["us-west1-a", "us-west1-b", "us-west1-c"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
    "europe-north1": ["europe-north1-a", "europe-north1-b", "europe-north1-c"],
}
DEFAULT_MACHINE_TYPES = [
    "e2-small", "e2-standard-2", "e2-standard-8", "e2-standard-32", "g1-small", "n1-standard-1", "n1-standard-2",
    "n1-standard-4", "n1-standard-8", "n2-standard-2", "n2-standard-8", "g2-standard-4", "g2-standard-8",
    "a2-highgpu-1g", "a3-highgpu-1g",
]  # fmt: skip
# Accelerator-optimized families carry their GPUs in the machine type; the API treats them as instances with
# guest accelerators (cloud.google.com/compute/docs/accelerator-optimized-machines; loft-sh/devpod#973 shows
# g2-standard-4 refused without onHostMaintenance TERMINATE).
GPU_MACHINE_TYPE = re.compile(r"^(a[2-4]x?|g[24])-")
DEFAULT_ACCELERATORS = ["nvidia-tesla-t4", "nvidia-l4", "nvidia-tesla-v100"]
# (project, image name, family, creation date, deprecated?, diskSizeGb). Ubuntu images are 10 GB; Deep Learning
# VM images are larger (50 GB, as users of such images report: BasedHardware/omi#7155).
DEFAULT_IMAGES = [
    ("ubuntu-os-cloud", "ubuntu-2404-noble-amd64-v20260901", "ubuntu-2404-lts-amd64", "2026-09-01", False, 10),
    ("ubuntu-os-cloud", "ubuntu-2404-noble-amd64-v20261101", "ubuntu-2404-lts-amd64", "2026-11-01", False, 10),
    ("ubuntu-os-cloud", "ubuntu-2204-jammy-v20261101", "ubuntu-2204-lts", "2026-11-01", False, 10),
    (
        "deeplearning-platform-release",
        "common-cu128-ubuntu-2204-nvidia-570-v20261015",
        "common-cu128-ubuntu-2204-nvidia-570",
        "2026-10-15",
        False,
        50,
    ),
]
CAPACITY_MESSAGE = (
    "The zone 'projects/{project}/zones/{zone}' does not have enough resources available to fulfill "
    "the request.  Try a different zone, or try again later."
)
_CUSTOM_TYPE = re.compile(r"^(?:([a-z0-9]+)-)?custom-\d+-\d+(?:-ext)?$")
_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")


# --------------------------------------------------------------------------------------------
# Discovery document checks


def discovery_path() -> Path:
    """Google's discovery document for compute v1, as shipped in google-api-python-client."""
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "compute.v1.json"


@functools.cache
def discovery() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(discovery_path().read_text())
    return doc


def discovery_method(method_id: str) -> dict[str, Any] | None:
    """The discovery description of e.g. 'compute.instances.insert', or None."""
    _, resource, name = method_id.split(".")
    method: dict[str, Any] | None = discovery()["resources"].get(resource, {}).get("methods", {}).get(name)
    return method


def validate(schema: str | dict[str, Any], value: Any, *, method_id: str = "", where: str = "") -> list[str]:
    """Errors found checking value against a discovery schema: unknown fields, types, enums, required."""
    doc = discovery()
    spec: dict[str, Any] = doc["schemas"][schema] if isinstance(schema, str) else schema
    where = where or (schema if isinstance(schema, str) else "body")
    if "$ref" in spec:
        return validate(spec["$ref"], value, method_id=method_id, where=where)
    kind = spec.get("type")
    errors: list[str] = []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        props: dict[str, Any] = spec.get("properties", {})
        extra = spec.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                errors += validate(props[key], item, method_id=method_id, where=f"{where}.{key}")
            elif extra is not None:
                errors += validate(extra, item, method_id=method_id, where=f"{where}[{key!r}]")
            else:
                errors.append(f"{where}: unknown field {key!r}")
        if method_id:
            for key, prop in props.items():
                if method_id in prop.get("annotations", {}).get("required", []) and key not in value:
                    errors.append(f"{where}: missing required field {key!r} for {method_id}")
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {type(value).__name__}"]
        for i, item in enumerate(value):
            errors += validate(spec["items"], item, method_id=method_id, where=f"{where}[{i}]")
    elif kind == "string":
        fmt = spec.get("format")
        if fmt in ("int64", "uint64"):
            if isinstance(value, bool) or not (
                (isinstance(value, str) and re.fullmatch(r"-?\d+", value)) or isinstance(value, int)
            ):
                errors.append(f"{where}: expected an {fmt} (decimal string), got {value!r}")
        elif not isinstance(value, str):
            errors.append(f"{where}: expected a string, got {type(value).__name__}")
        elif "enum" in spec and value not in spec["enum"]:
            errors.append(f"{where}: {value!r} is not one of {spec['enum']}")
        elif "pattern" in spec and not re.fullmatch(spec["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {spec['pattern']}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: expected an integer, got {value!r}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{where}: expected a number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{where}: expected a boolean, got {value!r}")
    return errors


def validate_query(method_id: str, params: dict[str, str]) -> list[str]:
    """Errors for query parameters the discovery document does not list for this method."""
    method = discovery_method(method_id) or {}
    known = set(method.get("parameters", {})) | set(discovery()["parameters"]) | {"$alt"}
    return [f"unknown query parameter {name!r} for {method_id}" for name in params if name not in known]


# --------------------------------------------------------------------------------------------
# State


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or {400: "invalid", 403: "forbidden", 404: "notFound", 409: "alreadyExists"}.get(
            status, "backendError"
        )


@dataclass
class Fault:
    """One injected failure. ``times=None`` means every matching request."""

    method: str  # 'instances.insert', 'images.getFromFamily', ... (discovery id without 'compute.')
    status: int = 0  # answer the HTTP request with this error status
    op_error: str = ""  # or: accept the request, and end its operation with this error code
    reason: str = ""
    message: str = ""
    zone: str | None = None
    spot: bool | None = None  # inserts only: match only Spot (True) or only standard (False) requests
    leave_instance: bool = False  # op_error on insert: leave the half-created instance (TERMINATED)
    times: int | None = 1
    hits: int = 0


@dataclass
class RequestRecord:
    method: str  # HTTP method
    path: str  # path after /compute/v1/
    query: dict[str, str]
    body: Any
    method_id: str  # discovery id, '' when no route matched
    status: int = 0
    at: float = field(default_factory=time.time)  # arrival (time.time()), for the benchmarks


@dataclass
class _Operation:
    resource: dict[str, Any]
    polls_left: int
    error: dict[str, Any] | None = None  # {'code':..., 'message':...} set when it finishes
    http_status: int = 0
    finish: Any = None  # callable run once when the operation reaches DONE


def _now() -> str:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=-8))).isoformat(timespec="milliseconds")


def _last(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def _region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """The subset of Compute's list filter syntax we answer: ANDed `field = value` terms.

    Accepts ``labels.k = "v"``, ``name = x``, ``name != x``, optionally each in
    parentheses and joined by spaces or AND. Anything else is a 400, as on the API.
    """
    terms: list[tuple[str, str, str]] = []
    rest = text.strip()
    term = re.compile(r'^\(?\s*([A-Za-z][\w.\-]*)\s*(=|!=|eq|ne)\s*("([^"]*)"|([^\s)"]+))\s*\)?\s*(?:AND\s+)?')
    while rest:
        match = term.match(rest)
        if not match:
            raise ApiError(400, f"Invalid value for field 'filter': '{text}'. Invalid list filter expression.")
        op = {"eq": "=", "ne": "!="}.get(match.group(2), match.group(2))
        value = match.group(4) if match.group(4) is not None else match.group(5)
        terms.append((match.group(1), op, value))
        rest = rest[match.end() :].strip()
    return terms


def _matches(resource: dict[str, Any], terms: list[tuple[str, str, str]]) -> bool:
    for key, op, value in terms:
        if key.startswith("labels."):
            actual = resource.get("labels", {}).get(key[len("labels.") :])
        else:
            actual = resource.get(key)
        equal = str(actual) == value if actual is not None else False
        if (op == "=") != equal:
            return False
    return True


class GcpState:
    """Everything the fake knows; all access under one lock."""

    def __init__(self, project: str = DEFAULT_PROJECT) -> None:
        self.project = project
        self.lock = threading.RLock()
        self._ids = itertools.count(4_611_686_018_427_387_904 + 1_000_003)  # decimal, past 2**62
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.zones: dict[str, list[str]] = copy.deepcopy(DEFAULT_ZONES)
            self.machine_types: dict[str, set[str]] = {
                zone: set(DEFAULT_MACHINE_TYPES) for zones in self.zones.values() for zone in zones
            }
            self.accelerators: dict[str, set[str]] = {zone: set(DEFAULT_ACCELERATORS) for zone in self.machine_types}
            self.images: dict[tuple[str, str], dict[str, Any]] = {}
            self.firewalls: dict[tuple[str, str], dict[str, Any]] = {}  # (project, name)
            self.routers: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (project, region) -> routers
            self.no_egress: set[tuple[str, str, str]] = set()  # instances with no way to the internet
            self.instances: dict[tuple[str, str, str], dict[str, Any]] = {}  # (project, zone, name)
            self.operations: dict[tuple[str, str, str], _Operation] = {}
            self.request_ids: dict[str, dict[str, Any]] = {}
            self.faults: list[Fault] = []
            self.requests: list[RequestRecord] = []
            self.validation_errors: list[str] = []
            self.op_polls = 2  # polls before an operation is DONE (PENDING, RUNNING, DONE)
            self.op_polls_by_kind: dict[str, int] = {}  # 'insert' / 'delete' overrides
            for project, name, family, date, deprecated, size in DEFAULT_IMAGES:
                self.add_image(project, name, family=family, created=date, deprecated=deprecated, disk_size_gb=size)

    # ---- helpers ---------------------------------------------------------------------------
    def next_id(self) -> str:
        return str(next(self._ids))

    def link(self, path: str) -> str:
        return SELF_LINK_BASE + path

    def add_image(
        self, project: str, name: str, *, family: str = "", created: str = "2026-01-01", deprecated: bool = False,
        disk_size_gb: int = 10,
    ) -> dict[str, Any]:  # fmt: skip
        image: dict[str, Any] = {
            "kind": "compute#image",
            "id": self.next_id(),
            "creationTimestamp": f"{created}T00:00:00.000-07:00",
            "name": name,
            "family": family,
            "selfLink": self.link(f"projects/{project}/global/images/{name}"),
            "status": "READY",
            "diskSizeGb": str(disk_size_gb),
            "architecture": "X86_64",
        }
        if not family:
            del image["family"]
        if deprecated:
            image["deprecated"] = {"state": "DEPRECATED"}
        with self.lock:
            self.images[(project, name)] = image
        return image

    def take_fault(self, method: str, zone: str | None, spot: bool | None, *, op: bool) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method != method or bool(fault.op_error) != op:
                    continue
                if fault.zone is not None and fault.zone != zone:
                    continue
                if fault.spot is not None and fault.spot != spot:
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                fault.hits += 1
                return fault
        return None

    def new_operation(
        self, project: str, zone: str, kind: str, target: str, target_id: str, finish: Any = None
    ) -> dict[str, Any]:
        name = f"operation-{dt.datetime.now(dt.UTC).strftime('%s%f')}-{self.next_id()[-8:]}"
        resource: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.next_id(),
            "name": name,
            "zone": self.link(f"projects/{project}/zones/{zone}"),
            "operationType": kind,
            "targetLink": self.link(f"projects/{project}/zones/{zone}/instances/{target}"),
            "targetId": target_id,
            "status": "PENDING",
            "user": "cml-runner@example.iam.gserviceaccount.com",
            "progress": 0,
            "insertTime": _now(),
            "selfLink": self.link(f"projects/{project}/zones/{zone}/operations/{name}"),
        }
        polls = self.op_polls_by_kind.get(kind, self.op_polls)
        self.operations[(project, zone, name)] = _Operation(resource, polls, finish=finish)
        return resource

    def new_global_operation(
        self, project: str, kind: str, target: str, target_id: str, finish: Any = None
    ) -> dict[str, Any]:
        """A global operation (firewalls): kept under zone "" beside the zonal ones."""
        name = f"operation-{dt.datetime.now(dt.UTC).strftime('%s%f')}-{self.next_id()[-8:]}"
        resource: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.next_id(),
            "name": name,
            "operationType": kind,
            "targetLink": self.link(f"projects/{project}/global/firewalls/{target}"),
            "targetId": target_id,
            "status": "PENDING",
            "progress": 0,
            "insertTime": _now(),
            "selfLink": self.link(f"projects/{project}/global/operations/{name}"),
        }
        self.operations[(project, "", name)] = _Operation(resource, self.op_polls, finish=finish)
        return resource

    def advance(self, project: str, zone: str, name: str) -> dict[str, Any]:
        with self.lock:
            op = self.operations.get((project, zone, name))
            if op is None:
                raise ApiError(404, f"The resource 'projects/{project}/zones/{zone}/operations/{name}' was not found")
            res = op.resource
            if res["status"] != "DONE":
                op.polls_left -= 1
                if op.polls_left <= 0:
                    res.update(status="DONE", progress=100, endTime=_now())
                    if op.finish is not None:
                        op.finish()
                    if op.error:
                        res["error"] = {"errors": [op.error]}
                        res["httpErrorStatusCode"] = op.http_status
                        res["httpErrorMessage"] = {400: "BAD REQUEST", 403: "FORBIDDEN", 409: "CONFLICT"}.get(
                            op.http_status, "SERVICE UNAVAILABLE"
                        )
                elif res["status"] == "PENDING":
                    res.update(status="RUNNING", startTime=_now(), progress=50)
            return copy.deepcopy(res)

    def zone_exists(self, zone: str) -> bool:
        return zone in self.machine_types


# --------------------------------------------------------------------------------------------
# API handlers: each returns (status, JSON body) or raises ApiError


def _not_found(path: str) -> ApiError:
    return ApiError(404, f"The resource '{path}' was not found")


class ComputeApi:
    def __init__(self, state: GcpState) -> None:
        self.s = state

    def _check_project(self, project: str) -> None:
        if project != self.s.project and project not in {p for p, _ in self.s.images}:
            raise ApiError(404, f"The resource 'projects/{project}' was not found")

    def _check_zone(self, project: str, zone: str) -> None:
        self._check_project(project)
        if not self.s.zone_exists(zone):
            raise ApiError(404, f"The resource 'projects/{project}/zones/{zone}' was not found")

    # ---- instances -------------------------------------------------------------------------
    def instances_insert(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        s, project, zone = self.s, p["project"], p["zone"]
        self._check_zone(project, zone)
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received.", "parseError")
        request_id = q.get("requestId", "")
        with s.lock:
            if request_id and request_id in s.request_ids:
                return copy.deepcopy(s.request_ids[request_id])
        name = str(body.get("name", ""))
        if not _NAME.match(name):
            raise ApiError(400, f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex "
                           "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
        scheduling: dict[str, Any] = body.get("scheduling", {})
        spot = scheduling.get("provisioningModel") == "SPOT"
        fault = s.take_fault("instances.insert", zone, spot, op=False)
        if fault:
            raise ApiError(fault.status, fault.message or "Injected failure", fault.reason)
        machine_type = _last(str(body.get("machineType", "")))
        custom = _CUSTOM_TYPE.match(machine_type)
        offered = s.machine_types[zone]
        if not (machine_type in offered or (custom and f"{custom.group(1) or 'n1'}-standard-2" in offered)):
            raise ApiError(400, f"Invalid value for field 'resource.machineType': '{body.get('machineType')}'. "
                           f"Machine type with name '{machine_type}' does not exist in zone '{zone}'.")  # fmt: skip
        accelerators = body.get("guestAccelerators", [])
        for i, acc in enumerate(accelerators):
            acc_type = _last(str(acc.get("acceleratorType", "")))
            if acc_type not in s.accelerators[zone]:
                raise ApiError(400, f"Invalid value for field 'resource.guestAccelerators[{i}].acceleratorType': "
                               f"'{acc.get('acceleratorType')}'. Accelerator type '{acc_type}' does not exist in "
                               f"zone {zone}.")  # fmt: skip
        # The real message, HTTP 400 (jenkinsci/google-compute-engine-plugin#63, loft-sh/devpod#973).
        carries_gpu = bool(accelerators) or bool(GPU_MACHINE_TYPE.match(machine_type))
        if carries_gpu and scheduling.get("onHostMaintenance") != "TERMINATE":
            raise ApiError(400, "Instances with guest accelerators do not support live migration.")
        if spot and (scheduling.get("onHostMaintenance") != "TERMINATE" or scheduling.get("automaticRestart")):
            raise ApiError(400, "Invalid value for field 'resource.scheduling': Spot VMs need onHostMaintenance "
                           "TERMINATE and automaticRestart false.")  # fmt: skip
        if "maxRunDuration" in scheduling and not scheduling.get("instanceTerminationAction"):
            raise ApiError(400, "Invalid value for field 'resource.scheduling.instanceTerminationAction': ''. "
                           "Instance termination action must be specified when max run duration is set.")  # fmt: skip
        disks = body.get("disks", [])
        for i, disk in enumerate(disks):
            params = disk.get("initializeParams", {})
            source = str(params.get("sourceImage", ""))
            image = self._image_for(source) if disk.get("boot") else None
            if disk.get("boot") and image is None:
                raise ApiError(404, f"The resource '{source}' was not found")
            # The real refusal of a boot disk smaller than its image, HTTP 400 reason 'invalid'
            # (BasedHardware/omi#7155, GoogleCloudPlatform/deploymentmanager-samples#561).
            if image is not None and "diskSizeGb" in params and int(params["diskSizeGb"]) < int(image["diskSizeGb"]):
                raise ApiError(400, f"Invalid value for field 'resource.disks[{i}].initializeParams.diskSizeGb': "
                               f"'{params['diskSizeGb']}'. Requested disk size cannot be smaller than the image size "
                               f"({image['diskSizeGb']} GB)")  # fmt: skip
        with s.lock:
            if (project, zone, name) in s.instances:
                raise ApiError(409, f"The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists")
            instance = self._materialise(project, zone, body)
            s.instances[(project, zone, name)] = instance
            if not self._has_way_out(project, zone, body):
                s.no_egress.add((project, zone, name))
            op_fault = s.take_fault("instances.insert", zone, spot, op=True)

            def finish() -> None:
                if op_fault is None:
                    instance["status"] = "RUNNING"
                    instance["lastStartTimestamp"] = _now()
                elif op_fault.leave_instance:
                    instance["status"] = "TERMINATED"
                else:
                    s.instances.pop((project, zone, name), None)

            op = s.new_operation(project, zone, "insert", name, instance["id"], finish)
            if op_fault is not None:
                message = op_fault.message or (
                    CAPACITY_MESSAGE.format(project=project, zone=zone)
                    if "RESOURCE_POOL_EXHAUSTED" in op_fault.op_error or op_fault.op_error == "STOCKOUT"
                    else "Injected operation failure"
                )
                operation = s.operations[(project, zone, op["name"])]
                operation.error = {"code": op_fault.op_error, "message": message}
                operation.http_status = op_fault.status or 503
            if request_id:
                s.request_ids[request_id] = op
            return copy.deepcopy(op)

    def _has_way_out(self, project: str, zone: str, body: dict[str, Any]) -> bool:
        """An external IP on the NIC, or a Cloud NAT serving its subnet on a router of its network and region."""
        nics = body.get("networkInterfaces") or [{}]
        if any(nic.get("accessConfigs") for nic in nics):
            return True
        network = _last(str(nics[0].get("network", "default")))
        subnet = _last(str(nics[0].get("subnetwork", ""))) or network  # auto mode: the subnet is named after it
        with self.s.lock:
            routers = list(self.s.routers.get((project, _region_of(zone)), []))
        for router in routers:
            if _last(router["network"]) != network:
                continue
            for nat in router.get("nats", []):
                ranges = nat.get("sourceSubnetworkIpRangesToNat", "")
                listed = {_last(sn.get("name", "")) for sn in nat.get("subnetworks", [])}
                if ranges.startswith("ALL_SUBNETWORKS") or subnet in listed:
                    return True
        return False

    def _image_for(self, source: str) -> dict[str, Any] | None:
        path = source.removeprefix(SELF_LINK_BASE).removeprefix("https://compute.googleapis.com/compute/v1/")
        match = re.fullmatch(r"projects/([^/]+)/global/images/(family/)?([^/]+)", path)
        if not match:
            return None
        project, is_family, name = match.groups()
        try:
            return self._family(project, name) if is_family else self._image(project, name)
        except ApiError:
            return None

    def _materialise(self, project: str, zone: str, body: dict[str, Any]) -> dict[str, Any]:
        s = self.s
        inst: dict[str, Any] = copy.deepcopy(body)
        name = inst["name"]
        inst.update(
            kind="compute#instance",
            id=s.next_id(),
            creationTimestamp=_now(),
            status="PROVISIONING",
            zone=s.link(f"projects/{project}/zones/{zone}"),
            selfLink=s.link(f"projects/{project}/zones/{zone}/instances/{name}"),
            machineType=s.link(f"projects/{project}/zones/{zone}/machineTypes/{_last(inst['machineType'])}"),
            labelFingerprint="42WmSpB8rSM=",
            cpuPlatform="Unknown CPU Platform",
        )
        for acc in inst.get("guestAccelerators", []):
            acc["acceleratorType"] = s.link(f"projects/{project}/zones/{zone}/acceleratorTypes/"
                                            f"{_last(acc['acceleratorType'])}")  # fmt: skip
        disks = []
        for i, disk in enumerate(inst.get("disks", [])):
            params = disk.pop("initializeParams", {})
            disk_name = params.get("diskName", name if i == 0 else f"{name}-{i}")
            disks.append(
                {
                    "kind": "compute#attachedDisk",
                    "type": "PERSISTENT",
                    "mode": "READ_WRITE",
                    "source": s.link(f"projects/{project}/zones/{zone}/disks/{disk_name}"),
                    "deviceName": disk.get("deviceName", "persistent-disk-0"),
                    "index": i,
                    "boot": bool(disk.get("boot")),
                    "autoDelete": bool(disk.get("autoDelete")),
                    "diskSizeGb": str(params.get("diskSizeGb", "10")),
                    "interface": "SCSI",
                }
            )
        inst["disks"] = disks
        for i, nic in enumerate(inst.get("networkInterfaces", [])):
            nic["name"] = f"nic{i}"
            nic["network"] = s.link(f"projects/{project}/" + nic.get("network", "global/networks/default")
                                    .split(f"projects/{project}/")[-1])  # fmt: skip
            nic["networkIP"] = f"10.138.0.{len(s.instances) % 250 + 2}"
            for ac in nic.get("accessConfigs", []):
                ac.update(kind="compute#accessConfig", natIP=f"34.82.0.{len(s.instances) % 250 + 2}")
        metadata = inst.setdefault("metadata", {})
        metadata.update(kind="compute#metadata", fingerprint="pIBdkSHQtBk=")
        scheduling = inst.setdefault("scheduling", {})
        scheduling.setdefault("onHostMaintenance", "MIGRATE")
        scheduling.setdefault("automaticRestart", True)
        scheduling.setdefault("preemptible", False)
        scheduling.setdefault("provisioningModel", "STANDARD")
        return inst

    def instances_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_zone(p["project"], p["zone"])
        with self.s.lock:
            inst = self.s.instances.get((p["project"], p["zone"], p["instance"]))
            if inst is None:
                raise _not_found(f"projects/{p['project']}/zones/{p['zone']}/instances/{p['instance']}")
            return copy.deepcopy(inst)

    def instances_delete(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        s, project, zone, name = self.s, p["project"], p["zone"], p["instance"]
        self._check_zone(project, zone)
        fault = s.take_fault("instances.delete", zone, None, op=False)
        if fault:
            raise ApiError(fault.status, fault.message or "Injected failure", fault.reason)
        with s.lock:
            inst = s.instances.get((project, zone, name))
            if inst is None:
                raise _not_found(f"projects/{project}/zones/{zone}/instances/{name}")
            inst["status"] = "STOPPING"
            op_fault = s.take_fault("instances.delete", zone, None, op=True)

            def finish() -> None:
                if op_fault is None:
                    s.instances.pop((project, zone, name), None)

            op = s.new_operation(project, zone, "delete", name, inst["id"], finish)
            if op_fault is not None:
                operation = s.operations[(project, zone, op["name"])]
                operation.error = {"code": op_fault.op_error, "message": op_fault.message or "Injected failure"}
                operation.http_status = op_fault.status or 500
            return copy.deepcopy(op)

    def _page(self, items: list[Any], q: dict[str, str]) -> tuple[list[Any], str]:
        start = int(q.get("pageToken") or 0)
        size = int(q.get("maxResults") or 500)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else "")

    def instances_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_zone(p["project"], p["zone"])
        terms = parse_filter(q.get("filter", ""))
        with self.s.lock:
            found = [
                copy.deepcopy(i)
                for (proj, zone, _), i in sorted(self.s.instances.items())
                if proj == p["project"] and zone == p["zone"] and _matches(i, terms)
            ]
        page, token = self._page(found, q)
        out: dict[str, Any] = {"kind": "compute#instanceList", "id": f"projects/{p['project']}/zones/{p['zone']}/"
                               "instances", "items": page}  # fmt: skip
        if token:
            out["nextPageToken"] = token
        return out

    def _aggregated(self, project: str, key: str, per_zone: dict[str, list[Any]], q: dict[str, str]) -> dict[str, Any]:
        flat = [(zone, item) for zone in sorted(per_zone) for item in per_zone[zone]]
        page, token = self._page(flat, q)
        items: dict[str, Any] = {}
        for zones in self.s.zones.values():
            for zone in zones:
                chosen = [item for z, item in page if z == zone]
                items[f"zones/{zone}"] = (
                    {key: chosen}
                    if chosen
                    else {
                        "warning": {
                            "code": "NO_RESULTS_ON_PAGE",
                            "message": f"There are no results for scope 'zones/{zone}' on this page.",
                            "data": [{"key": "scope", "value": f"zones/{zone}"}],
                        }
                    }
                )
        out: dict[str, Any] = {"kind": f"compute#{key[:-1]}AggregatedList", "id": f"projects/{project}/aggregated/"
                               f"{key}", "items": items}  # fmt: skip
        if token:
            out["nextPageToken"] = token
        return out

    def instances_aggregated_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        terms = parse_filter(q.get("filter", ""))
        per_zone: dict[str, list[Any]] = {}
        with self.s.lock:
            for (proj, zone, _), inst in sorted(self.s.instances.items()):
                if proj == p["project"] and _matches(inst, terms):
                    per_zone.setdefault(zone, []).append(copy.deepcopy(inst))
        return self._aggregated(p["project"], "instances", per_zone, q)

    # ---- operations ------------------------------------------------------------------------
    def zone_operations_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_zone(p["project"], p["zone"])
        return self.s.advance(p["project"], p["zone"], p["operation"])

    def zone_operations_wait(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        # The real wait blocks up to ~2 minutes; here it advances one step, so slow ops need several waits.
        self._check_zone(p["project"], p["zone"])
        return self.s.advance(p["project"], p["zone"], p["operation"])

    # ---- firewalls, global operations, routers ---------------------------------------------
    def firewalls_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        with self.s.lock:
            rule = self.s.firewalls.get((p["project"], p["firewall"]))
            if rule is None:
                raise _not_found(f"projects/{p['project']}/global/firewalls/{p['firewall']}")
            return copy.deepcopy(rule)

    def firewalls_insert(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        s, project = self.s, p["project"]
        self._check_project(project)
        fault = s.take_fault("firewalls.insert", None, None, op=False)
        if fault:
            raise ApiError(fault.status, fault.message or "Injected failure", fault.reason)
        name = str(body.get("name", ""))
        if not _NAME.match(name):
            raise ApiError(400, f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex "
                           "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'")  # fmt: skip
        # A rule allows or denies, never both nor neither (cloud.google.com/firewall/docs/firewalls).
        if bool(body.get("allowed")) == bool(body.get("denied")):
            raise ApiError(400, "Invalid value for field 'resource': exactly one of 'allowed' or 'denied' must be "
                           "specified.")  # fmt: skip
        priority = int(body.get("priority", 1000))
        if not 0 <= priority <= 65535:
            raise ApiError(400, f"Invalid value for field 'resource.priority': '{priority}'. Must be 0-65535.")
        with s.lock:
            if (project, name) in s.firewalls:
                raise ApiError(409, f"The resource 'projects/{project}/global/firewalls/{name}' already exists")
            rule = copy.deepcopy(body)
            network = _last(str(rule.get("network", "default")))
            rule.update(
                kind="compute#firewall", id=s.next_id(), creationTimestamp=_now(), priority=priority,
                direction=rule.get("direction", "INGRESS"),
                network=s.link(f"projects/{project}/global/networks/{network}"),
                selfLink=s.link(f"projects/{project}/global/firewalls/{name}"),
            )  # fmt: skip

            def finish() -> None:
                s.firewalls[(project, name)] = rule

            return copy.deepcopy(s.new_global_operation(project, "insert", name, rule["id"], finish))

    def global_operations_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        return self.s.advance(p["project"], "", p["operation"])

    def routers_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        fault = self.s.take_fault("routers.list", None, None, op=False)
        if fault:
            raise ApiError(fault.status, fault.message or "Injected failure", fault.reason)
        with self.s.lock:
            items = copy.deepcopy(self.s.routers.get((p["project"], p["region"]), []))
        return {"kind": "compute#routerList", "items": items}

    # ---- images ----------------------------------------------------------------------------
    def _image(self, project: str, name: str) -> dict[str, Any]:
        with self.s.lock:
            image = self.s.images.get((project, name))
            if image is None:
                raise _not_found(f"projects/{project}/global/images/{name}")
            return copy.deepcopy(image)

    def _family(self, project: str, family: str) -> dict[str, Any]:
        with self.s.lock:
            members = [
                i
                for (proj, _), i in self.s.images.items()
                if proj == project and i.get("family") == family and "deprecated" not in i
            ]
        if not members:
            raise _not_found(f"projects/{project}/global/images/family/{family}")
        return copy.deepcopy(max(members, key=lambda i: i["creationTimestamp"]))

    def images_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._image(p["project"], p["image"])

    def images_get_from_family(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        return self._family(p["project"], p["family"])

    # ---- machine types and zones -----------------------------------------------------------
    def _machine_type(self, project: str, zone: str, name: str) -> dict[str, Any]:
        cpus = int(re.search(r"(\d+)$", name).group(1)) if re.search(r"(\d+)$", name) else 1  # type: ignore[union-attr]
        return {
            "kind": "compute#machineType",
            "id": str(abs(hash(name)) % 10**12),
            "name": name,
            "guestCpus": cpus,
            "memoryMb": cpus * 3840,
            "zone": zone,
            "selfLink": self.s.link(f"projects/{project}/zones/{zone}/machineTypes/{name}"),
        }

    def machine_types_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_zone(p["project"], p["zone"])
        terms = parse_filter(q.get("filter", ""))
        with self.s.lock:
            types = [self._machine_type(p["project"], p["zone"], n) for n in sorted(self.s.machine_types[p["zone"]])]
        page, token = self._page([t for t in types if _matches(t, terms)], q)
        out: dict[str, Any] = {"kind": "compute#machineTypeList", "items": page}
        if token:
            out["nextPageToken"] = token
        return out

    def machine_types_aggregated_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        terms = parse_filter(q.get("filter", ""))
        with self.s.lock:
            per_zone = {
                zone: [t for n in sorted(names) if _matches(t := self._machine_type(p["project"], zone, n), terms)]
                for zone, names in self.s.machine_types.items()
            }
        return self._aggregated(p["project"], "machineTypes", per_zone, q)

    def zones_list(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        terms = parse_filter(q.get("filter", ""))
        zones = [
            {
                "kind": "compute#zone",
                "id": str(2000 + i),
                "name": zone,
                "status": "UP",
                "region": self.s.link(f"projects/{p['project']}/regions/{_region_of(zone)}"),
                "selfLink": self.s.link(f"projects/{p['project']}/zones/{zone}"),
            }
            for i, zone in enumerate(z for zs in self.s.zones.values() for z in zs)
        ]
        return {"kind": "compute#zoneList", "items": [z for z in zones if _matches(z, terms)]}


_HANDLERS = {
    "compute.instances.insert": ComputeApi.instances_insert,
    "compute.instances.get": ComputeApi.instances_get,
    "compute.instances.delete": ComputeApi.instances_delete,
    "compute.instances.list": ComputeApi.instances_list,
    "compute.instances.aggregatedList": ComputeApi.instances_aggregated_list,
    "compute.zoneOperations.get": ComputeApi.zone_operations_get,
    "compute.zoneOperations.wait": ComputeApi.zone_operations_wait,
    "compute.images.get": ComputeApi.images_get,
    "compute.images.getFromFamily": ComputeApi.images_get_from_family,
    "compute.machineTypes.list": ComputeApi.machine_types_list,
    "compute.machineTypes.aggregatedList": ComputeApi.machine_types_aggregated_list,
    "compute.zones.list": ComputeApi.zones_list,
    "compute.firewalls.get": ComputeApi.firewalls_get,
    "compute.firewalls.insert": ComputeApi.firewalls_insert,
    "compute.globalOperations.get": ComputeApi.global_operations_get,
    "compute.globalOperations.wait": ComputeApi.global_operations_get,
    "compute.routers.list": ComputeApi.routers_list,
}


# --------------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, reason: str) -> None:
        detail = {"message": message, "domain": "global", "reason": reason}
        self._send(status, {"error": {"code": status, "message": message, "errors": [detail]}})

    def _handle(self) -> None:
        state = self.server.state
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record = RequestRecord(self.command, url.path.removeprefix(PREFIX), query, None, "")
        with state.lock:
            state.requests.append(record)
        try:
            record.body = json.loads(raw) if raw else None
        except ValueError:
            record.status = 400
            self._error(400, "Invalid JSON payload received.", "parseError")
            return
        try:
            if not url.path.startswith(PREFIX):
                raise ApiError(404, f"No such path {url.path}", "notFound")
            params: dict[str, str] = {}
            for method, pattern, mid in _ROUTE_PATTERNS:
                match = pattern.match(record.path)
                if match and method == self.command:
                    record.method_id, params = mid, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                    break
            if not record.method_id:
                raise ApiError(404, f"No route {self.command} {url.path}", "notFound")
            problems = validate_query(record.method_id, query)
            resource = (discovery_method(record.method_id) or {}).get("request", {}).get("$ref")
            if resource and record.body is not None:
                problems += validate(resource, record.body, method_id=record.method_id)
            if problems:
                with state.lock:
                    state.validation_errors += problems
                raise ApiError(400, "Invalid JSON payload received. " + "; ".join(problems), "invalid")
            short = record.method_id.removeprefix("compute.")
            if short not in ("instances.insert", "instances.delete", "firewalls.insert", "routers.list"):
                fault = state.take_fault(short, params.get("zone"), None, op=False)
                if fault:
                    raise ApiError(fault.status, fault.message or "Injected failure", fault.reason)
            payload = _HANDLERS[record.method_id](self.server.api, params, query, record.body)
        except ApiError as exc:
            record.status = exc.status
            self._error(exc.status, exc.message, exc.reason)
            return
        record.status = 200
        self._send(200, payload)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: GcpState
    api: ComputeApi


class FakeGcp:
    """The server plus its control API. Use as a context manager or call start()/stop()."""

    def __init__(self, port: int = 0, project: str = DEFAULT_PROJECT) -> None:
        self.state = GcpState(project)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.state = self.state
        self._server.api = ComputeApi(self.state)
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def project(self) -> str:
        return self.state.project

    def start(self) -> FakeGcp:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gcp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGcp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- control API -----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget instances, operations, faults and the request log; restore the default catalog."""
        self.state.reset()

    def fail(
        self, method: str, status: int, *, message: str = "", reason: str = "", zone: str | None = None,
        times: int | None = 1,
    ) -> Fault:  # fmt: skip
        """Answer the next `times` requests to method (e.g. 'instances.insert') with an HTTP error."""
        fault = Fault(method, status=status, message=message, reason=reason, zone=zone, times=times)
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def fail_operation(
        self, method: str, code: str, *, message: str = "", zone: str | None = None, spot: bool | None = None,
        times: int | None = None, leave_instance: bool = False, http_status: int = 0,
    ) -> Fault:  # fmt: skip
        """Accept matching inserts/deletes but end their operation with error `code`."""
        fault = Fault(method, op_error=code, message=message, zone=zone, spot=spot, times=times,
                      leave_instance=leave_instance, status=http_status)  # fmt: skip
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def capacity(
        self, zone: str, *, spot: bool | None = None, times: int | None = None,
        code: str = "ZONE_RESOURCE_POOL_EXHAUSTED", leave_instance: bool = False,
    ) -> Fault:  # fmt: skip
        """No capacity in zone (optionally only for Spot): inserts there end with `code`."""
        return self.fail_operation("instances.insert", code, zone=zone, spot=spot, times=times,
                                   leave_instance=leave_instance, http_status=503)  # fmt: skip

    def slow_operations(self, polls: int, kind: str | None = None) -> None:
        """Operations created from now on (of kind 'insert'/'delete', or all) need `polls` get/wait calls
        to reach DONE (default 2)."""
        with self.state.lock:
            if kind:
                self.state.op_polls_by_kind[kind] = polls
            else:
                self.state.op_polls = polls

    def add_image(self, project: str, name: str, *, family: str = "", created: str = "2026-01-01",
                  deprecated: bool = False, disk_size_gb: int = 10) -> dict[str, Any]:  # fmt: skip
        return self.state.add_image(project, name, family=family, created=created, deprecated=deprecated,
                                    disk_size_gb=disk_size_gb)  # fmt: skip

    def add_router(
        self, region: str, name: str, *, network: str = "default", nat: bool = True,
        subnetworks: list[str] | None = None,
    ) -> dict[str, Any]:
        """A Cloud Router on network in region, with one Cloud NAT (for all subnets, or the named ones) if nat."""
        s = self.state
        router: dict[str, Any] = {
            "kind": "compute#router", "id": s.next_id(), "name": name, "creationTimestamp": _now(),
            "region": s.link(f"projects/{s.project}/regions/{region}"),
            "network": s.link(f"projects/{s.project}/global/networks/{network}"),
            "selfLink": s.link(f"projects/{s.project}/regions/{region}/routers/{name}"),
        }  # fmt: skip
        if nat:
            gateway: dict[str, Any] = {"name": f"{name}-nat", "natIpAllocateOption": "AUTO_ONLY"}
            if subnetworks:
                gateway["sourceSubnetworkIpRangesToNat"] = "LIST_OF_SUBNETWORKS"
                gateway["subnetworks"] = [
                    {"name": s.link(f"projects/{s.project}/regions/{region}/subnetworks/{n}")} for n in subnetworks
                ]
            else:
                gateway["sourceSubnetworkIpRangesToNat"] = "ALL_SUBNETWORKS_ALL_IP_RANGES"
            router["nats"] = [gateway]
        with s.lock:
            s.routers.setdefault((s.project, region), []).append(router)
        return copy.deepcopy(router)

    def firewalls(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [copy.deepcopy(r) for _, r in sorted(self.state.firewalls.items())]

    def has_egress(self, zone: str, name: str) -> bool:
        """Whether the instance has a way to the internet (external IP, or Cloud NAT on its subnet)."""
        with self.state.lock:
            return (self.state.project, zone, name) not in self.state.no_egress

    def set_machine_types(self, zone: str, names: list[str]) -> None:
        with self.state.lock:
            self.state.machine_types[zone] = set(names)

    def set_accelerators(self, zone: str, names: list[str]) -> None:
        with self.state.lock:
            self.state.accelerators[zone] = set(names)

    def add_instance(
        self, zone: str, name: str, *, labels: dict[str, str] | None = None, status: str = "RUNNING",
        machine_type: str = "e2-small", spot: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """Seed an instance directly (e.g. someone else's VM, or a leftover of ours)."""
        s = self.state
        body = {
            "name": name,
            "machineType": f"zones/{zone}/machineTypes/{machine_type}",
            "labels": labels or {},
            "scheduling": {"provisioningModel": "SPOT" if spot else "STANDARD"},
            "networkInterfaces": [{"network": "global/networks/default"}],
        }
        with s.lock:
            inst = ComputeApi(s)._materialise(s.project, zone, body)
            inst["status"] = status
            s.instances[(s.project, zone, name)] = inst
            return copy.deepcopy(inst)

    def set_status(self, name: str, status: str) -> None:
        """Set an instance's status wherever it is, e.g. TERMINATED when its guest is off (test/support/fakes/vm)."""
        with self.state.lock:
            for (_, _, instance_name), inst in self.state.instances.items():
                if instance_name == name:
                    inst["status"] = status

    def instances(self, zone: str | None = None) -> list[dict[str, Any]]:
        """Copies of the instances that exist now (in zone, if given)."""
        with self.state.lock:
            return [copy.deepcopy(i) for (_, z, _), i in sorted(self.state.instances.items()) if zone in (None, z)]

    @property
    def requests(self) -> list[RequestRecord]:
        with self.state.lock:
            return list(self.state.requests)

    def calls(self, method_id: str) -> list[RequestRecord]:
        """Logged requests for a discovery method id, e.g. 'compute.instances.insert'."""
        return [r for r in self.requests if r.method_id == method_id]

    @property
    def validation_errors(self) -> list[str]:
        with self.state.lock:
            return list(self.state.validation_errors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Compute Engine v1 stand-in (test/demo only).")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    args = parser.parse_args(argv)
    fake = FakeGcp(args.port, args.project)
    print(f"fake GCP compute on {fake.url} (project {fake.project}); "
          f"set GCP_COMPUTE_ENDPOINT={fake.url} GCP_PROJECT={fake.project}", flush=True)  # fmt: skip
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()


if __name__ == "__main__":
    main()

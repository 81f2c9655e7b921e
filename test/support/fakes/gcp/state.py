"""What the local Compute Engine knows (instances, operations, images, routers), its faults and request log."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fakes.gcp.quotas import DEFAULT_PROJECT_QUOTAS, DEFAULT_REGION_QUOTAS

SELF_LINK_BASE = "https://www.googleapis.com/compute/v1/"  # what the real API puts in selfLinks
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
class ImageRules:
    """The control knobs of image creation (FakeGcp.images)."""

    hold_pending: bool = False
    fail_new: bool = False
    held: list[tuple[str, str]] = field(default_factory=list)  # (project, image name) kept PENDING
    created: list[str] = field(default_factory=list)  # names made through images.insert, in order
    operations: dict[tuple[str, str], str] = field(default_factory=dict)  # (project, image name) -> its insert op


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
            self.disks: dict[tuple[str, str, str], dict[str, Any]] = {}  # (project, zone, name): fakes/gcp/images.py
            self.consoles: dict[tuple[str, str, str], str] = {}  # (project, zone, name) -> serial port 1's output
            self.image_rules = ImageRules()
            self.operations: dict[tuple[str, str, str], _Operation] = {}
            self.request_ids: dict[str, dict[str, Any]] = {}
            self.faults: list[Fault] = []
            # regions.get / projects.get quotas: metric -> (limit, usage) (fakes/gcp/quotas.py)
            self.region_quotas: dict[str, dict[str, tuple[float, float]]] = {
                region: dict(DEFAULT_REGION_QUOTAS) for region in self.zones
            }
            self.project_quotas: dict[str, tuple[float, float]] = dict(DEFAULT_PROJECT_QUOTAS)
            self.requests: list[RequestRecord] = []
            self.allowed_permissions: frozenset[str] | None = None  # the caller's permissions (fakes/gcp/iam.py)
            self.permissions_needed: set[str] = set()  # every permission a request so far needed
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
        disk_size_gb: int = 10, labels: dict[str, str] | None = None, status: str = "READY",
    ) -> dict[str, Any]:  # fmt: skip
        image: dict[str, Any] = {
            "kind": "compute#image",
            "id": self.next_id(),
            "creationTimestamp": f"{created}T00:00:00.000-07:00",
            "name": name,
            "family": family,
            "selfLink": self.link(f"projects/{project}/global/images/{name}"),
            "status": status,
            "diskSizeGb": str(disk_size_gb),
            "architecture": "X86_64",
        }
        if not family:
            del image["family"]
        if labels:
            image["labels"] = dict(labels)
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
        """A zonal operation on an instance."""
        target_link = self.link(f"projects/{project}/zones/{zone}/instances/{target}")
        polls = self.op_polls_by_kind.get(kind, self.op_polls)
        return self._operation(project, zone, kind, target_link, target_id, polls, finish)

    def new_global_operation(
        self, project: str, kind: str, target: str, target_id: str, finish: Any = None
    ) -> dict[str, Any]:
        """A global operation (firewalls): kept under zone "" beside the zonal ones."""
        target_link = self.link(f"projects/{project}/global/firewalls/{target}")
        return self._operation(project, "", kind, target_link, target_id, self.op_polls, finish)

    def _operation(
        self, project: str, zone: str, kind: str, target_link: str, target_id: str, polls: int, finish: Any
    ) -> dict[str, Any]:
        name = f"operation-{dt.datetime.now(dt.UTC).strftime('%s%f')}-{self.next_id()[-8:]}"
        scope = f"projects/{project}/zones/{zone}" if zone else f"projects/{project}/global"
        resource: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.next_id(),
            "name": name,
            "operationType": kind,
            "targetLink": target_link,
            "targetId": target_id,
            "status": "PENDING",
            "user": "cml-runner@example.iam.gserviceaccount.com",
            "progress": 0,
            "insertTime": _now(),
            "selfLink": self.link(f"{scope}/operations/{name}"),
        }
        if zone:
            resource["zone"] = self.link(scope)
        self.operations[(project, zone, name)] = _Operation(resource, polls, finish=finish)
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

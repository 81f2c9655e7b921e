"""The Compute v1 methods the fake serves: the route table and one handler per discovery method id."""

from __future__ import annotations

import copy
import re
from typing import Any

from fakes.gcp import images as made_images
from fakes.gcp.quotas import machine_shape, over_quota, quotas_json
from fakes.gcp.state import (
    _CUSTOM_TYPE,
    _NAME,
    CAPACITY_MESSAGE,
    GPU_MACHINE_TYPE,
    SELF_LINK_BASE,
    ApiError,
    GcpState,
    _last,
    _matches,
    _now,
    _region_of,
    parse_filter,
)

PREFIX = "/compute/v1/"

# (HTTP method, discovery path template, discovery method id): exactly what this fake serves.
ROUTES: list[tuple[str, str, str]] = [
    ("POST", "projects/{project}/zones/{zone}/instances", "compute.instances.insert"),
    ("GET", "projects/{project}/zones/{zone}/instances", "compute.instances.list"),
    ("GET", "projects/{project}/zones/{zone}/instances/{instance}", "compute.instances.get"),
    ("DELETE", "projects/{project}/zones/{zone}/instances/{instance}", "compute.instances.delete"),
    ("GET", "projects/{project}/zones/{zone}/instances/{instance}/serialPort", "compute.instances.getSerialPortOutput"),
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
    ("GET", "projects/{project}/regions/{region}", "compute.regions.get"),
    ("GET", "projects/{project}", "compute.projects.get"),
    *made_images.ROUTES,
]

_ROUTE_PATTERNS = [
    (method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), mid) for method, path, mid in ROUTES
]

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
            exceeded = over_quota(s.region_quotas.get(_region_of(zone), {}), s.project_quotas, body, spot)
            if exceeded is not None:
                where = "globally" if exceeded[2] == "project" else f"in region {_region_of(zone)}"
                message = f"Quota '{exceeded[0]}' exceeded.  Limit: {exceeded[1]:.1f} {where}."
                raise ApiError(403, message, "quotaExceeded")
            if (project, zone, name) in s.instances:
                raise ApiError(409, f"The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists")
            instance = self._materialise(project, zone, body)
            s.instances[(project, zone, name)] = instance
            s.consoles.pop((project, zone, name), None)  # a new instance of the name starts with an empty console
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
                    made_images.release_disks(s, project, zone, instance)

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
        disks, created = [], []
        for i, disk in enumerate(inst.get("disks", [])):
            params = disk.pop("initializeParams", {})
            created.append(params)
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
        made_images.add_disks(s, project, zone, inst, created)
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

    def instances_serial_port(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        """instances.getSerialPortOutput: GCE keeps the most recent 1 MB of each port; `start` below the oldest byte
        kept starts at the oldest one; `next` is where the next read starts (int64s as strings on the wire)."""
        self._check_zone(p["project"], p["zone"])
        key = (p["project"], p["zone"], p["instance"])
        if q.get("port", "1") not in ("1", "2", "3", "4"):
            raise ApiError(400, "Invalid value for field 'port': must be between 1 and 4", "invalid")
        with self.s.lock:
            if key not in self.s.instances:
                raise _not_found(f"projects/{key[0]}/zones/{key[1]}/instances/{key[2]}")
            data = self.s.consoles.get(key, "").encode() if q.get("port", "1") == "1" else b""
        oldest = max(0, len(data) - 1024 * 1024)
        start = max(int(q.get("start", "0") or 0), oldest)
        return {
            "kind": "compute#serialPortOutput",
            "contents": data[start:].decode("utf-8", "replace"),
            "start": str(start),
            "next": str(len(data)),
            "selfLink": self.s.link(f"projects/{key[0]}/zones/{key[1]}/instances/{key[2]}/serialPort"),
        }

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
                    s.consoles.pop((project, zone, name), None)
                    made_images.release_disks(s, project, zone, inst)

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
        cpus, accelerators = machine_shape(name)
        return {
            **({"accelerators": accelerators} if accelerators else {}),
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

    def regions_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        with self.s.lock:
            if p["region"] not in self.s.region_quotas:
                raise _not_found(f"projects/{p['project']}/regions/{p['region']}")
            quotas = quotas_json(self.s.region_quotas[p["region"]])
        link = self.s.link(f"projects/{p['project']}/regions/{p['region']}")
        return {"kind": "compute#region", "id": "1210", "name": p["region"], "status": "UP", "quotas": quotas,
                "selfLink": link}  # fmt: skip

    def projects_get(self, p: dict[str, str], q: dict[str, str], body: Any) -> dict[str, Any]:
        self._check_project(p["project"])
        with self.s.lock:
            quotas = quotas_json(self.s.project_quotas)
        return {"kind": "compute#project", "id": "4711", "name": p["project"], "quotas": quotas,
                "selfLink": self.s.link(f"projects/{p['project']}")}  # fmt: skip

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
    "compute.instances.getSerialPortOutput": ComputeApi.instances_serial_port,
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
    "compute.regions.get": ComputeApi.regions_get,
    "compute.projects.get": ComputeApi.projects_get,
    **made_images.HANDLERS,
}

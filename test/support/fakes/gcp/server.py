"""The local Compute Engine over HTTP, and FakeGcp: its lifecycle and control API for tests and the demo."""

from __future__ import annotations

import copy
import json
import urllib.parse
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.gcp import iam
from fakes.gcp.emulated import GcpEmulation
from fakes.gcp.routes import _HANDLERS, _ROUTE_PATTERNS, PREFIX, ComputeApi
from fakes.gcp.schema import discovery_method, validate, validate_query
from fakes.gcp.state import DEFAULT_PROJECT, ApiError, Fault, GcpState, ImageRules, RequestRecord, _now
from fakes.serving import LocalServer

# --------------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    state: GcpState
    api: ComputeApi

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
        state = self.state
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
            needed = iam.required(record.method_id, params, record.body, state.project)
            with state.lock:
                state.permissions_needed.update(needed)
                allowed = state.allowed_permissions
                missing = [p for p in needed if allowed is not None and p not in allowed]
            if missing:
                resource = iam.resource_of(record.path)
                raise ApiError(403, f"Required '{missing[0]}' permission for '{resource}'", "forbidden")
            short = record.method_id.removeprefix("compute.")
            if short not in ("instances.insert", "instances.delete", "firewalls.insert", "routers.list"):
                fault = state.take_fault(short, params.get("zone"), None, op=False)
                if fault:
                    raise ApiError(fault.status, fault.message or "Injected failure", fault.reason)
            payload = _HANDLERS[record.method_id](self.api, params, query, record.body)
        except ApiError as exc:
            record.status = exc.status
            self._error(exc.status, exc.message, exc.reason)
            return
        record.status = 200
        self._send(200, payload)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle


class FakeGcp(GcpEmulation):
    """The server plus its control API. Use as a context manager or call start()/stop()."""

    def __init__(self, port: int = 0, project: str = DEFAULT_PROJECT) -> None:
        self.state = GcpState(project)
        handler = type("Handler", (_Handler,), {"state": self.state, "api": ComputeApi(self.state)})
        self._server = LocalServer(handler, port=port, name="fake-gcp")  # the lifecycle every stand-in shares
        self.port: int = self._server.port
        self.url: str = self._server.url

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def project(self) -> str:
        return self.state.project

    def start(self) -> FakeGcp:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeGcp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- control API -----------------------------------------------------------------------
    def reset(self) -> None:
        """Forget instances, operations, faults and the request log; restore the default catalog."""
        self.state.reset()

    def allow(self, permissions: Iterable[str] | None) -> None:
        """From now on serve only requests whose permissions (fakes/gcp/iam.py) are all in this list; None: all."""
        with self.state.lock:
            self.state.allowed_permissions = None if permissions is None else frozenset(permissions)

    @property
    def permissions_needed(self) -> set[str]:
        with self.state.lock:
            return set(self.state.permissions_needed)

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
                  deprecated: bool = False, disk_size_gb: int = 10, labels: dict[str, str] | None = None,
                  status: str = "READY") -> dict[str, Any]:  # fmt: skip
        return self.state.add_image(project, name, family=family, created=created, deprecated=deprecated,
                                    disk_size_gb=disk_size_gb, labels=labels, status=status)  # fmt: skip

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

    def write_console(self, name: str, text: str) -> None:
        """What the instance's guest wrote to serial port 1 (its startup-script's output), wherever it is."""
        with self.state.lock:
            for key in self.state.instances:
                if key[2] == name:
                    self.state.consoles[key] = self.state.consoles.get(key, "") + text

    @property
    def image_rules(self) -> ImageRules:
        """hold_pending / fail_new for images made from now on (fakes/gcp/images.py)."""
        return self.state.image_rules

    def release_images(self) -> None:
        """Images held PENDING by hold_pending become READY, as the real creation ends after minutes."""
        with self.state.lock:
            for key in self.state.image_rules.held:
                if key in self.state.images:
                    self.state.images[key]["status"] = "READY"
            self.state.image_rules.held.clear()
            self.state.image_rules.hold_pending = False

    def images_of(self, project: str | None = None) -> list[dict[str, Any]]:
        """Copies of the images that exist now in project (default: the fake's own, not the public catalog)."""
        wanted = project or self.state.project
        with self.state.lock:
            return [copy.deepcopy(i) for (p, _), i in sorted(self.state.images.items()) if p == wanted]

    def disks(self) -> list[dict[str, Any]]:
        """Copies of the persistent disks that exist now (an instance's boot disk, and any it left detached)."""
        with self.state.lock:
            return [copy.deepcopy(d) for _, d in sorted(self.state.disks.items())]

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

"""The local Azure over HTTPS, and FakeAzure: its lifecycle and control API for tests and the demo."""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from fakes.azure.emulated import AzureEmulation
from fakes.azure.images import IMAGE_TYPE
from fakes.azure.quotas import ComputeQuotas
from fakes.azure.routes import ArmRoutes
from fakes.azure.state import (
    CLIENT_ID,
    CLIENT_SECRET,
    OIDC_TOKEN,
    SUBSCRIPTION_ID,
    TENANT_ID,
    Fault,
    RequestRecord,
    _Group,
    _Operation,
)
from fakes.serving import LocalServer


class FakeAzure(ArmRoutes, AzureEmulation):
    """The server and its state. Thread-safe; start() before use, stop() after."""

    def __init__(
        self,
        *,
        port: int = 0,
        subscription_id: str = SUBSCRIPTION_ID,
        tenant_id: str = TENANT_ID,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        oidc_token: str = OIDC_TOKEN,
    ) -> None:
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.oidc_token = oidc_token
        self._lock = threading.RLock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = LocalServer(handler, port=port, tls=True, name="azure-fake")  # the shared lifecycle
        assert self._server.cert_path is not None
        self.cert_path: Path = self._server.cert_path
        self.port = self._server.port
        self.url = self._server.url
        self.on_vm_created: Callable[[str, str, str], None] | None = None
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeAzure:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeAzure:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all state, faults, the log and settings (the server keeps running)."""
        with self._lock:
            self._groups: dict[str, _Group] = {}
            self.quotas = ComputeQuotas()  # the usages and Resource SKUs lists (quotas.py)
            self._operations: dict[str, _Operation] = {}
            self._faults: list[Fault] = []
            self._custom_data: dict[tuple[str, str], str] = {}
            self._power: dict[tuple[str, str], str] = {}
            self._generalized: set[tuple[str, str]] = set()  # (group, vm) lowercased: POST .../generalize done
            self._consoles: dict[tuple[str, str], str] = {}  # (group, vm) lowercased: the guest's serial log
            self._sas: set[str] = set()  # signatures of the boot diagnostics SAS URIs handed out
            self.hold_images = False  # images made from now on stay Creating (fakes/azure/images.py)
            self.fail_images = False  # images made from now on end Failed
            self.images_made: list[str] = []  # ids of the images created through PUT
            self._tokens: set[str] = set()
            self._identities: set[str] = set()
            self._ids = itertools.count(1)
            self.requests: list[RequestRecord] = []
            self.violations: list[str] = []
            self.sign_ins: list[str] = []  # "client_secret" or "client_assertion", one per token issued
            self.async_polls = 0  # polls a long-running operation takes (the last reports its end); 0 = synchronous
            self.retry_after: int | None = 1  # Retry-After on async responses; None = omit
            self.page_size = 0  # items per page of list responses; 0 = one page
            self.on_vm_created = None
            self.allowed_actions: frozenset[str] | None = None  # the caller's RBAC actions (fakes/azure/iam.py)
            self.actions_needed: set[str] = set()  # every action a request so far needed

    def allow(self, actions: Iterable[str] | None) -> None:
        """From now on serve only requests whose RBAC actions (fakes/azure/iam.py) are all in this list; None: all."""
        with self._lock:
            self.allowed_actions = None if actions is None else frozenset(actions)

    def env(self) -> dict[str, str]:
        """Variables that point the adapter's from_env() at this server (service principal)."""
        return {
            "AZURE_SUBSCRIPTION_ID": self.subscription_id,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "AZURE_RESOURCE_MANAGER_ENDPOINT": self.url,
            "AZURE_AUTHORITY_HOST": self.url,
            "AZURE_CA_BUNDLE": str(self.cert_path),
        }

    # -- control API ------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 409,
        code: str = "AllocationFailed",
        message: str = "Allocation failed. We do not have sufficient capacity for the requested VM size.",
        times: int = 1,
        lro: bool = False,
        retry_after: str | None = None,
        target: str | None = None,
        spot: bool | None = None,
    ) -> None:
        """Answer the next `times` requests whose method and path match with this error.

        lro=True (PUT only): accept the request, then end its operation Failed (as
        AllocationFailed does on Azure); the resource stays with provisioningState Failed.
        spot=True/False: only VM requests with (or without) priority Spot match.
        """
        with self._lock:
            self._faults.append(
                Fault(
                    method.upper(),
                    re.compile(path_pattern, re.I),
                    status,
                    code,
                    message,
                    times,
                    lro,
                    retry_after,
                    target,
                    spot,
                )
            )

    def fail_vm_create(
        self, code: str = "AllocationFailed", *, lro: bool = True, times: int = 1, spot: bool | None = None
    ) -> None:
        """The next `times` VM creations (only Spot ones, or only Regular ones, if spot is given) fail."""
        status = 200 if lro else 409
        self.fail(
            "PUT",
            r"/virtualMachines/[^/]+$",
            status=status,
            code=code,
            message=f"{code}: test fault",
            times=times,
            lro=lro,
            spot=spot,
        )

    def groups(self) -> list[str]:
        with self._lock:
            return sorted(g.name for g in self._groups.values())

    def group_tags(self, group: str) -> dict[str, str]:
        with self._lock:
            return dict(self._group(group).tags)

    def resources(self, group: str) -> list[tuple[str, str]]:
        """(type, name) of every resource in group."""
        with self._lock:
            return sorted((r["type"], r["name"]) for r in self._group(group).resources.values())

    def resource(self, group: str, type_: str, name: str) -> dict[str, Any]:
        """The stored document of one resource (as GET returns it)."""
        with self._lock:
            g = self._group(group)
            return self._output(g, g.resources[(type_.lower(), name.lower())], {})

    def custom_data(self, group: str, vm: str) -> str:
        """The custom data the VM was created with, as sent (base64); GET never returns it."""
        with self._lock:
            return self._custom_data[(group.lower(), vm.lower())]

    def seed_group(self, name: str, tags: dict[str, str], location: str = "westus2") -> None:
        with self._lock:
            self._groups[name.lower()] = _Group(name, location, dict(tags))

    def add_identity(self, group: str, name: str) -> str:
        """Register a user-assigned managed identity; VMs may only reference registered ones."""
        ident = (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{group}"
            f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
        )
        with self._lock:
            self._identities.add(ident.lower())
        return ident

    def write_console(self, group: str, vm: str, text: str) -> None:
        """What the VM's guest wrote to its serial console (boot diagnostics keeps it: fakes/azure/images.py)."""
        with self._lock:
            key = (group.lower(), vm.lower())
            self._consoles[key] = self._consoles.get(key, "") + text

    def set_power_state(self, group: str, vm: str, state: str) -> None:
        """running | stopped | deallocated | starting | stopping | deallocating."""
        with self._lock:
            self._power[(group.lower(), vm.lower())] = state

    def images(self) -> list[tuple[str, str, str, dict[str, str]]]:
        """(group, name, provisioning state, tags) of every managed image, in any group."""
        with self._lock:
            return sorted(
                (g.name, r["name"], str(r["properties"].get("provisioningState", "")), dict(r.get("tags") or {}))
                for g in self._groups.values()
                for r in g.resources.values()
                if r["type"] == IMAGE_TYPE
            )

    def seed_image(
        self, group: str, name: str, tags: dict[str, str], *, group_tags: dict[str, str] | None = None,
        state: str = "Succeeded", location: str = "westus2",
    ) -> str:  # fmt: skip
        """A managed image as a capture leaves it (in its own group, created if missing); returns its id."""
        with self._lock:
            found = self._groups.setdefault(group.lower(), _Group(group, location, dict(group_tags or tags)))
            rid = f"/subscriptions/{self.subscription_id}/resourceGroups/{found.name}/providers/{IMAGE_TYPE}/{name}"
            found.resources[(IMAGE_TYPE.lower(), name.lower())] = {
                "id": rid, "name": name, "type": IMAGE_TYPE, "location": location, "tags": dict(tags),
                "properties": {
                    "storageProfile": {"osDisk": {"osType": "Linux", "osState": "Generalized", "diskSizeGB": 30}},
                    "provisioningState": state, "hyperVGeneration": "V2",
                },
            }  # fmt: skip
            return rid

    def generalized(self, group: str, vm: str) -> bool:
        with self._lock:
            return (group.lower(), vm.lower()) in self._generalized

    def power_state(self, group: str, vm: str) -> str:
        """The VM's power state as set_power_state() left it ('running' when never set)."""
        with self._lock:
            return self._power.get((group.lower(), vm.lower()), "running")



class _Handler(BaseHTTPRequestHandler):
    fake: FakeAzure
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, out = self.fake.handle(self.command, self.path, headers, body)
        raw = isinstance(out, bytes)  # a blob (boot diagnostics' serial log), not an ARM document
        data = out if isinstance(out, bytes) else json.dumps(out).encode() if out is not None else b""
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        if data:
            self.send_header("Content-Type", "text/plain" if raw else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the fake keeps its own log
        return




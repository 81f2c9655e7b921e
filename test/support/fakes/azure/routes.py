"""The routes of the local Azure: Entra ID's token endpoint and ARM's resource groups and resources."""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import gzip
import ipaddress
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from azure.mgmt.compute import models as cm
from azure.mgmt.resource.resources import models as rm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.azure import iam
from fakes.azure.images import _BLOB, IMAGE_TYPE, ImageRules
from fakes.azure.quotas import ComputeQuotas, exceeded
from fakes.azure.schema import check
from fakes.azure.state import (
    _ACTION,
    _DEFAULT_RULES,
    _GROUP,
    _GROUPS,
    _INSTANCE_VIEW,
    _LIST,
    _OPENID,
    _OPERATION,
    _PROVIDER,
    _RESOURCE,
    _TOKEN,
    ARM_SCOPE,
    ASSERTION_TYPE,
    DEFAULT_IMAGE_OS_DISK_GB,
    IMAGE_OS_DISK_GB,
    RESOURCE_TYPES,
    VM_TYPE,
    ArmError,
    Fault,
    RequestRecord,
    _Fault,
    _Group,
    _is_spot,
    _Operation,
)

CUSTOM_DATA_MAX_CHARS = 87380  # base64 of 65535 bytes
CUSTOM_DATA_REFUSED = (
    "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters."
)
SSH_RSA_MIN_BITS = 2048


def _check_ssh_key(key_data: str, bad: Callable[[str, str], ArmError]) -> None:
    """Azure takes SSH-2 RSA public keys of at least 2048 bits ("Supported SSH key formats",
    learn.microsoft.com/azure/virtual-machines/linux/ssh-from-windows)."""
    try:
        key = serialization.load_ssh_public_key(key_data.encode())
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < SSH_RSA_MIN_BITS:
        raise bad(
            "linuxConfiguration.ssh.publicKeys.keyData",
            "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid: an SSH-2 RSA key of at "
            f"least {SSH_RSA_MIN_BITS} bits is required.",
        )


class ArmRoutes(ImageRules):
    """Azure Resource Manager's and Entra ID's routes, over the state FakeAzure (server.py) holds."""

    subscription_id: str
    tenant_id: str
    client_id: str
    client_secret: str
    oidc_token: str
    port: int
    url: str
    _lock: threading.RLock
    _groups: dict[str, _Group]
    _operations: dict[str, _Operation]
    _faults: list[Fault]
    _custom_data: dict[tuple[str, str], str]
    _power: dict[tuple[str, str], str]
    _tokens: set[str]
    _identities: set[str]
    _ids: Iterator[int]
    requests: list[RequestRecord]
    violations: list[str]
    sign_ins: list[str]
    async_polls: int
    retry_after: int | None
    page_size: int
    on_vm_created: Callable[[str, str, str], None] | None
    allowed_actions: frozenset[str] | None
    actions_needed: set[str]
    quotas: ComputeQuotas

    # -- dispatch (called by the handler) ---------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        entry = RequestRecord(method, path, query, None)
        with self._lock:
            self.requests.append(entry)
        out_headers: dict[str, str] = {}
        try:
            token = _TOKEN.match(path)
            openid = _OPENID.match(path)
            blob = _BLOB.match(path)
            if blob and method == "GET":  # a SAS URI: the signature is the authorization, no bearer token
                status, out_headers, out = self._serial_log(blob["rg"], blob["vm"], query.get("sig", ""))
            elif openid and method == "GET":  # MSAL reads the tenant's OpenID configuration first
                self._take_fault(method, path)
                status, out_headers, out = 200, {}, self._openid(openid["tenant"])
            elif token:
                if method != "POST":
                    raise ArmError(405, "MethodNotAllowed", "token endpoint takes POST")
                form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
                entry.body = {k: ("***" if k in ("client_secret", "client_assertion") else v) for k, v in form.items()}
                self._take_fault(method, path)
                status, out_headers, out = 200, {}, self._token(token["tenant"], form)
            else:
                entry.body = json.loads(body) if body else None
                self._authorize(headers)
                self._check_rbac(method, path, entry.body)
                if "api-version" not in query or not re.fullmatch(
                    r"\d{4}-\d{2}-\d{2}(-preview)?", query["api-version"]
                ):
                    raise ArmError(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
                fault = self._take_fault(method, path, body=entry.body)
                status, out_headers, out = self._arm(method, path, query, entry.body, headers, fault)
        except ArmError as err:
            status, out = err.status, err.body()
            if err.status == 400 and err.code == "InvalidRequestContent":
                with self._lock:
                    self.violations.append(f"{method} {path}: {err.message}")
        except _Fault as f:
            status, out = f.fault.status, ArmError(f.fault.status, f.fault.code, f.fault.message, f.fault.target).body()
            out_headers = {"Retry-After": f.fault.retry_after} if f.fault.retry_after is not None else {}
        entry.status = status
        return status, out_headers, out

    def _take_fault(self, method: str, path: str, *, body: Any = None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.spot is not None and fault.spot != _is_spot(body):
                    continue
                if fault.times > 0 and fault.method in ("*", method) and fault.pattern.search(path):
                    fault.times -= 1
                    if fault.lro and method == "PUT":
                        return fault
                    raise _Fault(fault)
        return None

    # -- Entra ID ---------------------------------------------------------------------------------

    def _openid(self, tenant: str) -> dict[str, Any]:
        if tenant != self.tenant_id:
            raise ArmError(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
        base = f"{self.url}/{tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "NA",
        }

    def _token(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        def refuse(status: int, error: str, description: str) -> ArmError:
            err = ArmError(status, error, description)
            err.body = lambda: {"error": error, "error_description": description}  # type: ignore[method-assign]
            return err

        if tenant != self.tenant_id:
            raise refuse(400, "invalid_request", f"AADSTS90002: Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            raise refuse(400, "unsupported_grant_type", "AADSTS70003: only client_credentials here")
        if form.get("client_id") != self.client_id:
            raise refuse(400, "unauthorized_client", "AADSTS700016: Application not found in the directory.")
        if ARM_SCOPE not in form.get("scope", "").split():
            raise refuse(400, "invalid_scope", f"AADSTS70011: scope must be {ARM_SCOPE}")
        if "client_secret" in form:
            if form["client_secret"] != self.client_secret:
                raise refuse(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
            kind = "client_secret"
        elif "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE or form["client_assertion"] != self.oidc_token:
                raise refuse(401, "invalid_client", "AADSTS700213: No matching federated identity record found.")
            kind = "client_assertion"
        else:
            raise refuse(401, "invalid_client", "AADSTS7000216: client_secret or client_assertion is required.")
        access = f"fake-arm-token-{uuid.uuid4().hex}"
        with self._lock:
            self._tokens.add(access)
            self.sign_ins.append(kind)
        return {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access}

    def _authorize(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        with self._lock:
            ok = auth.startswith("Bearer ") and auth[len("Bearer ") :] in self._tokens
        if not ok:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid or missing.")

    def _check_rbac(self, method: str, path: str, body: Any) -> None:
        """The caller's RBAC actions (fakes/azure/iam.py): AuthorizationFailed or LinkedAuthorizationFailed."""
        own, linked = iam.required(method, path, body)
        with self._lock:
            self.actions_needed.update(action for action, _ in own + linked)
            allowed = self.allowed_actions
        if allowed is None:
            return
        client = self.client_id
        for action, scope in own:
            if action not in allowed:
                raise ArmError(
                    403, "AuthorizationFailed",
                    f"The client '{client}' with object id '{client}' does not have authorization to perform action "
                    f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please "
                    "refresh your credentials.",
                )  # fmt: skip
        for action, scope in linked:
            if action not in allowed:
                raise ArmError(
                    403, "LinkedAuthorizationFailed",
                    f"The client '{client}' with object id '{client}' has permission to perform action "
                    f"'{own[0][0]}' on scope '{own[0][1]}'; however, it does not have permission to perform action(s) "
                    f"'{action}' on the linked scope(s) '{scope}' (respectively) or the linked scope(s) are invalid.",
                )  # fmt: skip

    # -- ARM --------------------------------------------------------------------------------------

    def _arm(
        self, method: str, path: str, query: dict[str, str], body: Any, headers: dict[str, str], fault: Fault | None
    ) -> tuple[int, dict[str, str], Any]:
        listed = self.quotas.answer(method, path, query)  # usages and SKUs (fakes/azure/quotas.py)
        if listed is not None:
            return 200, {}, listed
        for pattern in (_GROUPS, _GROUP, _LIST, _RESOURCE, _INSTANCE_VIEW, _OPERATION, _ACTION):
            m = pattern.match(path)
            if m:
                break
        else:
            raise ArmError(404, "InvalidResourceType", f"No route for {path}")
        if m["sub"] != self.subscription_id:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{m['sub']}' could not be found.")
        with self._lock:
            if pattern is _GROUPS and method == "GET":
                return self._list_groups(query, headers.get("host", f"127.0.0.1:{self.port}"), path)
            if pattern is _GROUP:
                return self._group_route(method, m["rg"], body, query)
            if pattern is _OPERATION and method == "GET":
                return self._poll(m["op"], m["kind"].lower())
            if pattern is _INSTANCE_VIEW and method == "GET":
                group = self._group(m["rg"])
                vm = group.resources.get((VM_TYPE.lower(), m["name"].lower()))
                if vm is None:
                    raise ArmError(404, "ResourceNotFound", f"The Resource '{VM_TYPE}/{m['name']}' was not found.")
                return 200, {}, self._respond(cm.VirtualMachineInstanceView, self._instance_view(group, vm))
            if pattern is _ACTION and method == "POST" and f"{m['ns']}/{m['type']}".lower() == VM_TYPE.lower():
                return self._vm_action(self._group(m["rg"]), m["name"], m["action"])
            kind = RESOURCE_TYPES.get((m["ns"].lower(), m["type"].lower()))
            if kind is None:
                raise ArmError(400, "InvalidResourceType", f"The resource type '{m['ns']}/{m['type']}' is not served")
            if pattern is _LIST and method == "GET":
                group = self._group(m["rg"])
                items = [self._output(group, r, query) for r in group.resources.values() if r["type"] == kind[0]]
                return 200, {}, {"value": [self._respond(kind[1], i) for i in items]}
            if pattern is _RESOURCE:
                if method == "PUT":
                    return self._put(m["rg"], kind, m["name"], body, fault, query["api-version"])
                if method == "GET":
                    group = self._group(m["rg"])
                    doc = group.resources.get((kind[0].lower(), m["name"].lower()))
                    if doc is None:
                        raise ArmError(404, "ResourceNotFound", f"The Resource '{kind[0]}/{m['name']}' was not found.")
                    return 200, {}, self._respond(kind[1], self._output(group, doc, query))
                if method == "DELETE":
                    return self._delete_resource(m["rg"], kind[0], m["name"])
        raise ArmError(405, "MethodNotAllowed", f"{method} {path}")

    # resource groups

    def _group(self, name: str) -> _Group:
        group = self._groups.get(name.lower())
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return group

    def _group_doc(self, group: _Group) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{self.subscription_id}/resourceGroups/{group.name}",
            "name": group.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": group.location,
            "tags": dict(group.tags),
            "properties": {"provisioningState": group.state},
        }

    def _group_route(self, method: str, name: str, body: Any, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        if method == "PUT":
            self._validate(rm.ResourceGroup, body)
            if not isinstance(body, dict) or not body.get("location"):
                raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
            existing = self._groups.get(name.lower())
            if existing is not None and existing.state == "Deleting":
                raise ArmError(
                    409, "ResourceGroupBeingDeleted", f"The resource group '{name}' is in deprovisioning state"
                )
            if existing is None:
                self._groups[name.lower()] = _Group(name, body["location"], dict(body.get("tags") or {}))
            else:
                existing.tags = dict(body.get("tags") or {})
            group = self._groups[name.lower()]
            return (201 if existing is None else 200), {}, self._respond(rm.ResourceGroup, self._group_doc(group))
        if method == "GET":
            return 200, {}, self._respond(rm.ResourceGroup, self._group_doc(self._group(name)))
        if method == "HEAD":
            return (204 if name.lower() in self._groups else 404), {}, None
        if method == "DELETE":
            group = self._group(name)
            self._check_images_deletable(group)
            forced = query.get("forceDeletionTypes", "")
            if forced and forced.lower() not in (
                "microsoft.compute/virtualmachines",
                "microsoft.compute/virtualmachinescalesets",
            ):
                raise ArmError(400, "InvalidForceDeletionType", f"forceDeletionTypes {forced!r} is not supported")

            def done() -> None:
                self._groups.pop(name.lower(), None)
                for key in [k for k in self._custom_data if k[0] == name.lower()]:
                    self._custom_data.pop(key, None)
                    self._power.pop(key, None)
                    self._generalized.discard(key)

            if self.async_polls <= 0:
                done()
                return 200, {}, None
            group.state = "Deleting"
            op = self._operation(done)
            return 202, self._async_headers("Microsoft.Resources", group.location, op, location_header=True), None
        raise ArmError(405, "MethodNotAllowed", method)

    def _list_groups(self, query: dict[str, str], host: str, path: str) -> tuple[int, dict[str, str], Any]:
        groups = sorted(self._groups.values(), key=lambda g: g.name.lower())
        flt = query.get("$filter", "")
        if flt:
            m = re.fullmatch(r"tagName eq '([^']*)'(?: and tagValue eq '([^']*)')?", flt.strip())
            if not m:
                raise ArmError(400, "InvalidFilterInQueryString", f"Invalid $filter {flt!r}")
            groups = [g for g in groups if m[1] in g.tags and (m[2] is None or g.tags[m[1]] == m[2])]
        start = int(query.get("$skiptoken", "0") or 0)
        size = self.page_size or len(groups) or 1
        page = groups[start : start + size]
        out: dict[str, Any] = {"value": [self._respond(rm.ResourceGroup, self._group_doc(g)) for g in page]}
        if start + size < len(groups):
            params = {k: v for k, v in query.items() if k != "$skiptoken"} | {"$skiptoken": str(start + size)}
            out["nextLink"] = f"https://{host}{path}?{urlencode(params)}"
        return 200, {}, out

    # resources

    def _put(
        self, group_name: str, kind: tuple[str, type], name: str, body: Any, fault: Fault | None, api_version: str = ""
    ) -> tuple[int, dict[str, str], Any]:
        type_, model = kind
        self._validate(model, body)
        group = self._group(group_name)
        if group.state == "Deleting":
            raise ArmError(409, "ResourceGroupBeingDeleted", f"The resource group '{group.name}' is being deleted")
        if not isinstance(body, dict) or not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        rid = f"/subscriptions/{self.subscription_id}/resourceGroups/{group.name}/providers/{type_}/{name}"
        key = (type_.lower(), name.lower())
        existing = key in group.resources
        doc: dict[str, Any] = {
            "id": rid,
            "name": name,
            "type": type_,
            "location": body["location"],
            "tags": dict(body.get("tags") or {}),
        }
        props = copy.deepcopy(body.get("properties") or {})
        for extra in ("zones", "sku", "identity"):
            if extra in body:
                doc[extra] = copy.deepcopy(body[extra])
        builder = {
            "Microsoft.Network/virtualNetworks": self._vnet,
            "Microsoft.Network/networkSecurityGroups": self._nsg,
            "Microsoft.Network/publicIPAddresses": self._public_ip,
            "Microsoft.Network/networkInterfaces": self._nic,
            VM_TYPE: self._vm,
            IMAGE_TYPE: self._image,
        }[type_]
        builder(group, doc, props)
        if type_ == VM_TYPE:
            self._security_type(props, api_version)  # fakes/azure/images.py: Trusted Launch by default
        doc["properties"] = props
        is_vm = type_ == VM_TYPE
        if is_vm:
            self._custom_data[(group.name.lower(), name.lower())] = props.get("osProfile", {}).get("customData", "")

        def succeed() -> None:
            props["provisioningState"] = self._image_outcome() if type_ == IMAGE_TYPE else "Succeeded"
            if is_vm:
                self._power[(group.name.lower(), name.lower())] = "running"
                hook = self.on_vm_created
                if hook is not None:
                    raw = base64.b64decode(self._custom_data[(group.name.lower(), name.lower())] or "")
                    data = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
                    threading.Thread(target=hook, args=(group.name, name, data), daemon=True).start()

        group.resources[key] = doc
        if fault is None and self.async_polls <= 0:
            succeed()
            return (200 if existing else 201), {}, self._respond(model, self._output(group, doc, {}))
        props["provisioningState"] = "Updating" if existing else "Creating"
        if fault is not None:
            error = ArmError(fault.status, fault.code, fault.message, fault.target).body()["error"]

            def fail() -> None:
                props["provisioningState"] = "Failed"

            op = self._operation(fail, error=error)
        else:
            op = self._operation(succeed)
        location = doc["location"]
        ns = type_.split("/")[0]
        return (
            (200 if existing else 201),
            self._async_headers(ns, location, op),
            self._respond(model, self._output(group, doc, {})),
        )

    def _delete_resource(self, group_name: str, type_: str, name: str) -> tuple[int, dict[str, str], Any]:
        group = self._group(group_name)
        if type_ == IMAGE_TYPE:
            self._check_images_deletable(group, name)
        if group.resources.pop((type_.lower(), name.lower()), None) is None:
            return 204, {}, None
        self._custom_data.pop((group.name.lower(), name.lower()), None)
        return 200, {}, None

    def _ref(self, rid: Any, what: str, target: str) -> tuple[_Group, dict[str, Any]]:
        """The resource an id points at, which must exist in this subscription."""
        m = re.match(_PROVIDER + r"/(?P<name>[^/]+)(?:/subnets/(?P<sub_name>[^/]+))?$", str(rid or ""), re.I)
        group = self._groups.get(m["rg"].lower()) if m and m["sub"] == self.subscription_id else None
        doc = group.resources.get((f"{m['ns']}/{m['type']}".lower(), m["name"].lower())) if group and m else None
        if group is None or doc is None or m is None:
            raise ArmError(
                400, "InvalidResourceReference", f"{what} {rid!r} referenced by the resource was not found.", target
            )
        if m["sub_name"]:
            subnets = [s for s in doc["properties"].get("subnets", []) if s["name"].lower() == m["sub_name"].lower()]
            if not subnets:
                raise ArmError(400, "InvalidResourceReference", f"Subnet {rid!r} was not found.", target)
        return group, doc

    def _child(self, parent: dict[str, Any], kind: str, item: dict[str, Any]) -> None:
        item["id"] = f"{parent['id']}/{kind}/{item.get('name', '')}"
        item["type"] = f"{parent['type']}/{kind}"
        item.setdefault("properties", {})["provisioningState"] = "Succeeded"

    def _vnet(self, group: _Group, doc: dict[str, Any], props: dict[str, Any]) -> None:
        prefixes = props.get("addressSpace", {}).get("addressPrefixes") or []
        if not prefixes:
            raise ArmError(400, "InvalidAddressSpace", "addressSpace.addressPrefixes is required", "addressSpace")
        for subnet in props.get("subnets") or []:
            if not subnet.get("name"):
                raise ArmError(400, "InvalidRequestFormat", "Every subnet needs a name", "subnets")
            sp = subnet.get("properties") or {}
            prefix = sp.get("addressPrefix")
            if not prefix or not any(
                ipaddress.ip_network(prefix).subnet_of(ipaddress.ip_network(p))  # type: ignore[arg-type]
                for p in prefixes
            ):
                raise ArmError(400, "NetcfgSubnetRangeOutsideVnet", f"Subnet prefix {prefix} outside {prefixes}")
            if sp.get("networkSecurityGroup"):
                self._ref(sp["networkSecurityGroup"].get("id"), "Network security group", "networkSecurityGroup")
            self._child(doc, "subnets", subnet)
        props["resourceGuid"] = str(uuid.uuid4())

    def _nsg(self, group: _Group, doc: dict[str, Any], props: dict[str, Any]) -> None:
        for rule in props.get("securityRules") or []:
            self._child(doc, "securityRules", rule)
        props["defaultSecurityRules"] = []
        for name, direction, priority, access, source, destination in _DEFAULT_RULES:
            rule = {
                "name": name,
                "properties": {
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": source,
                    "destinationAddressPrefix": destination,
                    "access": access,
                    "priority": priority,
                    "direction": direction,
                },
            }
            self._child(doc, "defaultSecurityRules", rule)
            props["defaultSecurityRules"].append(rule)
        props["resourceGuid"] = str(uuid.uuid4())

    def _public_ip(self, group: _Group, doc: dict[str, Any], props: dict[str, Any]) -> None:
        sku = (doc.get("sku") or {}).get("name", "Basic")
        if sku == "Standard" and props.get("publicIPAllocationMethod", "Static") != "Static":
            raise ArmError(400, "StandardSkuPublicIPAddressesMustBeStatic", "Standard SKU public IPs must be Static")
        props.setdefault("publicIPAddressVersion", "IPv4")
        props["ipAddress"] = f"203.0.113.{next(self._ids) % 250 + 1}"  # TEST-NET-3, never routed
        props["resourceGuid"] = str(uuid.uuid4())

    def _nic(self, group: _Group, doc: dict[str, Any], props: dict[str, Any]) -> None:
        configs = props.get("ipConfigurations") or []
        if not configs:
            raise ArmError(400, "InvalidRequestFormat", "At least one IP configuration is required", "ipConfigurations")
        if props.get("networkSecurityGroup"):
            self._ref(props["networkSecurityGroup"].get("id"), "Network security group", "networkSecurityGroup")
        for i, config in enumerate(configs):
            cp = config.setdefault("properties", {})
            self._ref((cp.get("subnet") or {}).get("id"), "Subnet", "subnet")
            if cp.get("publicIPAddress"):
                self._ref(cp["publicIPAddress"].get("id"), "Public IP address", "publicIPAddress")
            cp["privateIPAddress"] = f"10.0.0.{4 + i}"
            cp.setdefault("privateIPAllocationMethod", "Dynamic")
            cp["primary"] = i == 0
            self._child(doc, "ipConfigurations", config)
        props["resourceGuid"] = str(uuid.uuid4())

    def _vm(self, group: _Group, doc: dict[str, Any], props: dict[str, Any]) -> None:
        def bad(target: str, message: str) -> ArmError:
            return ArmError(400, "InvalidParameter", message, target)

        if not (props.get("hardwareProfile") or {}).get("vmSize"):
            raise bad("vmSize", "The value of parameter vmSize is invalid.")
        spot_vm = str(props.get("priority", "Regular")).lower() == "spot"
        refused = exceeded(self.quotas, str(doc["location"]), str(props["hardwareProfile"]["vmSize"]), spot_vm)
        if refused:
            raise ArmError(409, "OperationNotAllowed", refused)
        image = (props.get("storageProfile") or {}).get("imageReference") or {}
        if image.get("id"):  # a managed image of this subscription (fakes/azure/images.py)
            image_gb = self._managed_image_gb(str(image["id"]), doc["location"])
        elif not all(image.get(k) for k in ("publisher", "offer", "sku", "version")):
            raise bad("imageReference", "The platform image reference needs publisher, offer, sku and version.")
        else:
            key = (image["publisher"].lower(), image["offer"].lower())
            image_gb = IMAGE_OS_DISK_GB.get(key, DEFAULT_IMAGE_OS_DISK_GB)
        asked_gb = ((props.get("storageProfile") or {}).get("osDisk") or {}).get("diskSizeGB")
        if asked_gb is not None and asked_gb < image_gb:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"The specified disk size {asked_gb} GB is smaller than the size of the corresponding disk in the VM "
                f"image: {image_gb} GB. This is not allowed. Please choose equal or greater size or do not specify "
                "an explicit size.",
                "osDisk.diskSizeGB",
            )
        os_profile = props.get("osProfile") or {}
        if not os_profile.get("adminUsername") or not os_profile.get("computerName"):
            raise bad("osProfile", "adminUsername and computerName are required.")
        linux = os_profile.get("linuxConfiguration") or {}
        if linux.get("disablePasswordAuthentication") and not (linux.get("ssh") or {}).get("publicKeys"):
            raise bad("linuxConfiguration.ssh.publicKeys", "SSH keys are required when password login is disabled.")
        if not linux.get("disablePasswordAuthentication") and not os_profile.get("adminPassword"):
            raise bad("adminPassword", "Required parameter 'adminPassword' is missing (null).")
        for key in (linux.get("ssh") or {}).get("publicKeys") or []:
            _check_ssh_key(str(key.get("keyData") or ""), bad)
        custom = os_profile.get("customData")
        if custom is not None:
            # At most 65535 bytes decoded (OSProfile.customData, learn.microsoft.com/rest/api/compute/
            # virtual-machines/create-or-update), i.e. 87380 base64 characters; the real refusal names the
            # encoded length (Azure/aks-engine docs, terraform-provider-azurerm reports).
            try:
                base64.b64decode(custom, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise bad("customData", CUSTOM_DATA_REFUSED) from exc
            if len(custom) > CUSTOM_DATA_MAX_CHARS:
                raise bad("customData", CUSTOM_DATA_REFUSED)
        priority = props.get("priority", "Regular")
        if priority.lower() != "spot" and (props.get("evictionPolicy") or props.get("billingProfile")):
            raise bad("evictionPolicy", "Eviction policy and billing profile can be set only for Spot VMs.")
        max_price = (props.get("billingProfile") or {}).get("maxPrice")
        if max_price is not None and max_price != -1 and max_price <= 0:
            raise bad("billingProfile.maxPrice", "maxPrice must be -1 or greater than 0.")
        nics = (props.get("networkProfile") or {}).get("networkInterfaces") or []
        if not nics:
            raise bad("networkProfile", "At least one network interface is required.")
        for nic in nics:
            self._ref(nic.get("id"), "Network interface", "networkInterfaces")
        identity = doc.get("identity")
        if identity:
            for ident in identity.get("userAssignedIdentities") or {}:
                if ident.lower() not in self._identities:
                    raise ArmError(
                        400, "FailedIdentityOperation", f"Identity '{ident}' was not found.", "userAssignedIdentities"
                    )
                identity["userAssignedIdentities"][ident] = {
                    "principalId": str(uuid.uuid4()),
                    "clientId": str(uuid.uuid4()),
                }
        os_disk = (props.get("storageProfile") or {}).get("osDisk") or {}
        disk_name = os_disk.get("name") or f"{doc['name']}_OsDisk_1"
        os_disk.setdefault("managedDisk", {})["id"] = (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{group.name}/providers/Microsoft.Compute/disks/{disk_name}"
        )
        props["vmId"] = str(uuid.uuid4())
        props["timeCreated"] = datetime.datetime.now(datetime.UTC).isoformat()

    def _output(self, group: _Group, doc: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        """A resource as GET returns it: without write-only fields, with the instance view when asked."""
        out = copy.deepcopy(doc)
        if out["type"] == VM_TYPE:
            out["properties"].get("osProfile", {}).pop("customData", None)
            if query.get("$expand", "").lower() == "instanceview":
                out["properties"]["instanceView"] = self._instance_view(group, doc)
        return out

    def _instance_view(self, group: _Group, vm: dict[str, Any]) -> dict[str, Any]:
        state = vm["properties"].get("provisioningState", "Succeeded")
        statuses = [{"code": f"ProvisioningState/{state.lower()}", "level": "Info", "displayStatus": state}]
        power = self._power.get((group.name.lower(), vm["name"].lower()))
        if power and state == "Succeeded":
            statuses.append({"code": f"PowerState/{power}", "level": "Info", "displayStatus": f"VM {power}"})
        statuses.extend(self._vm_statuses(group, vm["name"]))
        return {"computerName": vm["properties"].get("osProfile", {}).get("computerName"), "statuses": statuses}

    def _vm_action(self, group: _Group, vm: str, action: str) -> tuple[int, dict[str, str], Any]:
        """POST deallocate (a long-running operation, as ARM runs it) or generalize (synchronous), or
        retrieveBootDiagnosticsData (fakes/azure/images.py)."""
        if action.lower() == "retrievebootdiagnosticsdata":
            return 200, {}, self._boot_diagnostics(group, vm)
        self._vm_action_check(group, vm, action)
        if action == "deallocate" and self.async_polls > 0:
            self._power[(group.name.lower(), vm.lower())] = "deallocating"
            op = self._operation(lambda: self._vm_action_done(group.name, vm, action))
            return 202, self._async_headers("Microsoft.Compute", group.location, op, location_header=True), None
        self._vm_action_done(group.name, vm, action)
        return 200, {}, None

    # operations

    def _operation(self, on_done: Callable[[], None], error: dict[str, Any] | None = None) -> _Operation:
        op = _Operation(str(uuid.uuid4()), max(self.async_polls, 1) - 1, on_done, error)
        self._operations[op.id] = op
        return op

    def _async_headers(
        self, ns: str, location: str, op: _Operation, *, location_header: bool = False
    ) -> dict[str, str]:
        base = f"{self.url}/subscriptions/{self.subscription_id}/providers/{ns}/locations/{location}"
        headers = {}
        if location_header:
            headers["Location"] = f"{base}/operationResults/{op.id}?api-version=2025-04-01"
        else:
            headers["Azure-AsyncOperation"] = f"{base}/operations/{op.id}?api-version=2025-04-01"
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def _poll(self, op_id: str, kind: str) -> tuple[int, dict[str, str], Any]:
        op = self._operations.get(op_id)
        if op is None:
            raise ArmError(404, "OperationNotFound", f"Operation {op_id} not found")
        if op.status == "InProgress":
            if op.polls_left > 0:
                op.polls_left -= 1
            else:
                op.status = "Failed" if op.error else "Succeeded"
                op.on_done()
        if kind == "operationresults":  # Location polling: 202 while running, then 200
            if op.status == "InProgress":
                headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
                return 202, headers, None
            if op.status == "Failed":
                return 400, {}, {"error": op.error}
            return 200, {}, None
        body: dict[str, Any] = {"id": op.id, "name": op.id, "status": op.status}
        if op.error:
            body["error"] = op.error if op.status == "Failed" else None
            body = {k: v for k, v in body.items() if v is not None}
        headers = (
            {"Retry-After": str(self.retry_after)} if self.retry_after is not None and op.status == "InProgress" else {}
        )
        return 200, headers, body

    # schema checks

    def _validate(self, model: type, body: Any) -> None:
        problems = check(model, body)
        if problems:
            raise ArmError(400, "InvalidRequestContent", "; ".join(problems))

    def _respond(self, model: type, doc: dict[str, Any]) -> dict[str, Any]:
        problems = check(model, doc)
        if problems:
            self.violations.append(f"response {model.__name__}: " + "; ".join(problems))
        return doc

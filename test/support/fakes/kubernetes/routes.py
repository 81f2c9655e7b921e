"""The REST surface of the local Kubernetes: the paths, verbs and query parameters of the real API for the
resources the pipe uses (batch/v1 Jobs, core/v1 Pods, Secrets and Events), with the API server's answers.

Each request body is held to the published schema (fakes.kubernetes.schema) and to the API server's own checks
(fakes.kubernetes.validation): 422 Invalid with the field causes, as the server answers. Unknown fields follow
the `fieldValidation` parameter as on a real server (Strict: 400 `strict decoding error`; Warn, the default:
dropped with a Warning header; Ignore: dropped); the fake also records every one in `violations`, so a test
fails on a field the pipe should not send, whatever the mode.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakes.kubernetes import schema, validation
from fakes.kubernetes.lifecycle import admit_job, admit_pod_spec, qos_class
from fakes.kubernetes.state import KINDS, ORPHAN_WARNING, check_namespace
from fakes.kubernetes.status import Cause, KubeError, bad_request, invalid, resource_name

if TYPE_CHECKING:
    from fakes.kubernetes.server import FakeKubernetes, Grant

# GET /version as a v1.35.0 server answers it (the client's VersionInfo model requires every field).
KUBERNETES_VERSION = {
    "major": "1",
    "minor": "35",
    "gitVersion": "v1.35.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-12-17T12:00:00Z",
    "goVersion": "go1.25.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_NAMESPACED = re.compile(
    r"^/(?:api/v1|apis/(?P<group>batch)/v1)/namespaces/(?P<namespace>[^/]+)/(?P<plural>[a-z]+)"
    r"(?:/(?P<name>[^/]+)(?P<sub>/status)?)?$"
)
_CLUSTER_LIST = re.compile(r"^/(?:api/v1|apis/(?P<group>batch)/v1)/(?P<plural>[a-z]+)$")
_NAMESPACE = re.compile(r"^/api/v1/namespaces/(?P<namespace>[^/]+)$")
PROPAGATIONS = ("Orphan", "Background", "Foreground")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    grant: Grant


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    verb: str
    plural: str
    namespace: str  # "" = all namespaces
    name: str = ""
    status_only: bool = False


def target_of(method: str, path: str, query: dict[str, str]) -> Target | None:
    """What a request acts on, in RBAC's terms (verb, resource, namespace, name); None for non-resource paths."""
    m = _NAMESPACED.match(path) or _CLUSTER_LIST.match(path)
    if not m or m["plural"] not in KINDS or (KINDS[m["plural"]].group or None) != m["group"]:
        return None
    groups = m.groupdict()
    name = groups.get("name") or ""
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") in ("true", "1") else "list")
    else:
        verb = {("POST", False): "create", ("DELETE", True): "delete", ("DELETE", False): "deletecollection"}.get(
            (method, bool(name)), method.lower()
        )
    return Target(verb, m["plural"], groups.get("namespace") or "", name, bool(groups.get("sub")))


def dispatch(fake: FakeKubernetes, request: Request) -> Reply:
    if request.path == "/version" and request.method == "GET":
        return Reply(200, dict(KUBERNETES_VERSION))
    namespace = _NAMESPACE.match(request.path)
    if namespace and request.method == "GET":
        return _namespace(fake, namespace["namespace"])
    target = target_of(request.method, request.path, request.query)
    if target is None:
        raise KubeError(404, "the server could not find the requested resource", reason="NotFound")
    fake.authorize(request.grant, target)
    store = fake.store
    kind = KINDS[target.plural]
    if target.verb == "watch":
        raise bad_request("watch is not served by the local Kubernetes")
    if target.verb == "list":
        return Reply(
            200,
            store.select(
                target.plural,
                target.namespace or None,
                label_selector=request.query.get("labelSelector", ""),
                field_selector=request.query.get("fieldSelector", ""),
                limit=int(request.query.get("limit", "0") or 0),
                continue_token=request.query.get("continue", ""),
            ),
        )
    if target.verb == "get":
        return Reply(200, copy.deepcopy(store.get(target.plural, target.namespace, target.name)))
    if target.verb == "create" and not target.status_only:
        return _create(fake, target, request)
    if target.verb == "delete" and not target.status_only:
        return _delete(fake, target, request)
    if target.verb == "deletecollection":
        found = store.select(target.plural, target.namespace, label_selector=request.query.get("labelSelector", ""))
        for item in found["items"]:
            store.delete(target.plural, target.namespace, item["metadata"]["name"], kind.default_propagation)
        return Reply(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
    raise KubeError(405, f"the server does not allow this method on the requested resource ({request.method})")


def _namespace(fake: FakeKubernetes, name: str) -> Reply:
    if name not in fake.store.namespaces:
        raise KubeError(404, f'namespaces "{name}" not found', details={"name": name, "kind": "namespaces"})
    doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": "Active"}}
    return Reply(200, doc)


def _drop(body: dict[str, Any], dotted: str) -> None:
    """Remove one unknown field, given as `spec.template.spec.containers[0].foo`."""
    parts = [p for p in re.split(r"\.|\[(\d+)\]", dotted) if p]
    node: Any = body
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def _create(fake: FakeKubernetes, target: Target, request: Request) -> Reply:
    kind = KINDS[target.plural]
    body = request.body
    if not isinstance(body, dict):
        raise bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}')
    if body.get("apiVersion", kind.api_version) != kind.api_version or body.get("kind", kind.kind) != kind.kind:
        raise bad_request(
            f"the API version in the data ({body.get('apiVersion')}) does not match the expected API version "
            f"({kind.api_version})"
        )
    check_namespace(body, target.namespace)
    body = copy.deepcopy(body)
    headers: dict[str, str] = {}
    unknown, causes = schema.check(kind.kind, kind.api_version, body)
    if unknown:
        fake.violations.append(f"POST {request.path}: unknown fields {', '.join(unknown)}")
        mode = request.query.get("fieldValidation", "Warn")
        if mode == "Strict":
            raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
        for path in unknown:
            _drop(body, path)
        if mode != "Ignore":
            headers["Warning"] = ", ".join(f'299 - "unknown field \\"{u}\\""' for u in unknown)
    causes += validation.BY_PLURAL[target.plural](body)
    meta = body.get("metadata") or {}
    if causes:
        fake.violations.append(f"POST {request.path}: " + "; ".join(f"{c.field}: {c.message}" for c in causes))
        raise invalid(kind.group, kind.kind, meta.get("name") or meta.get("generateName") or "", causes)
    if fake.owner_references_enforcement:
        _admit_owner_references(fake, request.grant, target, body)
    if request.query.get("dryRun") == "All":
        return Reply(201, body, headers)
    doc = fake.store.create(target.plural, target.namespace, body)
    if target.plural == "jobs":
        admit_job(doc)
        doc["status"] = {}
    elif target.plural == "pods":
        admit_pod_spec(doc.setdefault("spec", {}))
        doc["status"] = {"phase": "Pending", "qosClass": qos_class(doc["spec"])}
    elif target.plural == "secrets":
        doc.setdefault("type", "Opaque")
        for key, value in (doc.pop("stringData", None) or {}).items():
            doc.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()
    return Reply(201, copy.deepcopy(doc), headers)


def _admit_owner_references(fake: FakeKubernetes, grant: Grant, target: Target, body: dict[str, Any]) -> None:
    """The OwnerReferencesPermissionEnforcement admission plugin (on in OpenShift; kubernetes/kubernetes
    plugin/pkg/admission/gc/gc_admission.go): an object created with ownerReferences needs `delete` on its own
    resource, and a reference with blockOwnerDeletion true needs `update` on the owner's `finalizers`
    subresource. Its messages, with the authorizer's empty reason and nil error as RBAC gives them."""
    meta = body.get("metadata") or {}
    refs = meta.get("ownerReferences") or []
    if not refs:
        return
    kind = KINDS[target.plural]
    subject = f'{resource_name(kind.group, target.plural)} "{meta.get("name", "")}"'
    if not fake.allowed(grant, "delete", target.plural):
        raise KubeError(403, f"{subject} is forbidden: cannot set an ownerRef on a resource you can't delete: , <nil>")
    for ref in refs:
        owner = next((k for k in KINDS.values() if k.kind == ref.get("kind")), None)
        if ref.get("blockOwnerDeletion") is True and (
            owner is None or not fake.allowed(grant, "update", f"{owner.plural}/finalizers")
        ):
            raise KubeError(
                403,
                f"{subject} is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource "
                "you can't set finalizers on: , <nil>",
            )


def _delete(fake: FakeKubernetes, target: Target, request: Request) -> Reply:
    kind = KINDS[target.plural]
    options = request.body if isinstance(request.body, dict) else {}
    if options:
        unknown, causes = schema.check("DeleteOptions", "meta/v1", options)
        if unknown or causes:
            fake.violations.append(f"DELETE {request.path}: {unknown} {causes}")
            raise bad_request(f"DeleteOptions is not valid: {', '.join(unknown) or causes[0].message}")
    policy = options.get("propagationPolicy") or request.query.get("propagationPolicy") or ""
    headers: dict[str, str] = {}
    if policy and policy not in PROPAGATIONS:
        raise invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            [Cause("FieldValueNotSupported", "propagationPolicy", f'Unsupported value: "{policy}"')],
        )
    if not policy:
        policy = kind.default_propagation
        if target.plural == "jobs":
            headers["Warning"] = f'299 - "{ORPHAN_WARNING}"'
    current = fake.store.get(target.plural, target.namespace, target.name)
    wanted_uid = (options.get("preconditions") or {}).get("uid")
    if wanted_uid and wanted_uid != current["metadata"]["uid"]:
        raise KubeError(
            409,
            f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: {current['metadata']['uid']}",
            reason="Conflict",
        )
    doc = fake.store.delete(target.plural, target.namespace, target.name, policy)
    if fake.store.find(target.plural, target.namespace, target.name) is not None:
        return Reply(200, doc, headers)
    details = {"name": target.name, "group": kind.group, "kind": target.plural, "uid": doc["metadata"]["uid"]}
    return Reply(
        200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}, headers
    )

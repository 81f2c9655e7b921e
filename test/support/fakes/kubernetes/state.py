"""The local Kubernetes' object store: namespaced objects with uids and resourceVersions, label and field
selectors on lists, and the garbage collector's ownerReference rules on delete.

Deletion follows the API server and the garbage collector (kubernetes.io/docs/concepts/architecture/
garbage-collection): Orphan strips the owner's reference from dependents; Background removes the owner at
once and its dependents after; Foreground marks the owner (deletionTimestamp, finalizer foregroundDeletion),
removes the dependents, then the owner. A batch/v1 Job deleted without a propagationPolicy orphans its pods
(the Job strategy's DefaultGarbageCollectionPolicy is OrphanDependents) and the server says so in a Warning.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fakes.kubernetes.status import KubeError, already_exists, bad_request, not_found


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    default_propagation: str = "Background"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS = {
    "jobs": Kind("batch", "v1", "Job", "jobs", default_propagation="Orphan"),
    "pods": Kind("", "v1", "Pod", "pods"),
    "secrets": Kind("", "v1", "Secret", "secrets"),
    "events": Kind("", "v1", "Event", "events"),
}
ORPHAN_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them "
    "or set propagationPolicy=Orphan to suppress this warning"
)
# Field selectors each resource supports (anything else: 400 `field label not supported`).
FIELD_LABELS = {
    "jobs": ("metadata.name", "metadata.namespace", "status.successful"),
    "pods": ("metadata.name", "metadata.namespace", "status.phase", "spec.nodeName", "spec.restartPolicy"),
    "secrets": ("metadata.name", "metadata.namespace", "type"),
    "events": (
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.namespace",
        "reason",
        "type",
        "source",
    ),
}
_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*"
    r"(?:(?P<op>==|!=|=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[-A-Za-z0-9_.]*))?\s*$"
)


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _split_terms(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [*terms, current] if current.strip() else terms


def _requirement(term: str) -> tuple[str, str, set[str]]:
    """One labelSelector term -> (operator, key, values): exists, !, =, !=, in, notin."""
    m = _REQUIREMENT.match(term)
    if not m or (m["neg"] and m["op"]):
        raise bad_request(f"unable to parse requirement: found '{term.strip()}', expected: identifier")
    op = "!" if m["neg"] else (m["op"] or "exists").strip().replace("==", "=")
    values = {v.strip() for v in (m["value"] or "").strip("()").split(",") if v.strip()}
    return op, m["key"], values if op in ("in", "notin") else {m["value"] or ""}


def _satisfies(labels: dict[str, str], op: str, key: str, values: set[str]) -> bool:
    if op == "exists":
        return key in labels
    if op == "!":
        return key not in labels
    if op in ("=", "in"):
        return labels.get(key) in values
    return labels.get(key) not in values  # != and notin: a missing label satisfies both


def label_matcher(selector: str) -> Callable[[dict[str, str]], bool]:
    """A labelSelector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) as a predicate; 400 when it cannot be parsed."""
    requirements = [_requirement(term) for term in _split_terms(selector)]
    return lambda labels: all(_satisfies(labels, *requirement) for requirement in requirements)


def _dotted(doc: dict[str, Any], path: str) -> str:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_matcher(plural: str, selector: str) -> Callable[[dict[str, Any]], bool]:
    terms: list[tuple[str, bool, str]] = []  # (path, equal, value)
    for term in (t for t in selector.split(",") if t.strip()):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        path, op, value = m.groups()
        if path not in FIELD_LABELS[plural]:
            raise bad_request(f"field label not supported: {path}")
        terms.append((path, op != "!=", value))
    return lambda doc: all((_dotted(doc, path) == value) == equal for path, equal, value in terms)


class Store:
    """Every object, keyed (plural, namespace, name). Callers hold the fake's lock."""

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.namespaces: set[str] = {"default", "kube-system"}
        self._versions = itertools.count(1000)

    def _bump(self, doc: dict[str, Any]) -> None:
        doc["metadata"]["resourceVersion"] = str(next(self._versions))

    def create(self, plural: str, namespace: str, doc: dict[str, Any]) -> dict[str, Any]:
        kind = KINDS[plural]
        if namespace not in self.namespaces:
            raise not_found("", "namespaces", namespace)
        meta = doc.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(
                secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)
            )
        key = (plural, namespace, meta["name"])
        if key in self.objects:
            raise already_exists(kind.group, plural, meta["name"])
        doc["apiVersion"], doc["kind"] = kind.api_version, kind.kind
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=rfc3339(self.now()))
        for transient in ("deletionTimestamp", "resourceVersion", "deletionGracePeriodSeconds"):
            meta.pop(transient, None)
        if plural == "jobs":
            meta["generation"] = 1
        self._bump(doc)
        self.objects[key] = doc
        return doc

    def find(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        doc = self.find(plural, namespace, name)
        if doc is None:
            raise not_found(KINDS[plural].group, plural, name)
        return doc

    def changed(self, doc: dict[str, Any]) -> None:
        self._bump(doc)

    def of_kind(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            doc
            for (p, ns, _), doc in sorted(self.objects.items())
            if p == plural and (namespace is None or ns == namespace)
        ]

    def select(
        self,
        plural: str,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
    ) -> dict[str, Any]:
        labels_ok = label_matcher(label_selector)
        fields_ok = field_matcher(plural, field_selector)
        items = [
            d for d in self.of_kind(plural, namespace) if labels_ok(d["metadata"].get("labels") or {}) and fields_ok(d)
        ]
        start = 0
        if continue_token:
            try:
                start = int(json.loads(base64.b64decode(continue_token))["start"])
            except (ValueError, KeyError, TypeError) as exc:
                raise bad_request("continue key is not valid: illegal base64 data") from exc
        page = items[start : start + limit] if limit > 0 else items[start:]
        kind = KINDS[plural]
        meta: dict[str, Any] = {"resourceVersion": str(next(self._versions))}
        if limit > 0 and start + limit < len(items):
            meta["continue"] = base64.b64encode(json.dumps({"start": start + limit}).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": meta,
            "items": [copy.deepcopy(d) for d in page],
        }

    # -- deletion and the garbage collector --------------------------------------------------------

    def dependents(self, uid: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (plural, doc)
            for (plural, _, _), doc in list(self.objects.items())
            if any(ref.get("uid") == uid for ref in doc["metadata"].get("ownerReferences") or [])
        ]

    def delete(self, plural: str, namespace: str, name: str, propagation: str) -> dict[str, Any]:
        """Start deleting; returns the object as the DELETE response shows it."""
        doc = self.get(plural, namespace, name)
        meta = doc["metadata"]
        if propagation == "Orphan":
            for _, dependent in self.dependents(meta["uid"]):
                refs = [r for r in dependent["metadata"]["ownerReferences"] if r.get("uid") != meta["uid"]]
                dependent["metadata"]["ownerReferences"] = refs
                if not refs:
                    del dependent["metadata"]["ownerReferences"]
                self._bump(dependent)
        if propagation == "Foreground" and self.dependents(meta["uid"]):
            meta.setdefault("deletionTimestamp", rfc3339(self.now()))
            meta["deletionGracePeriodSeconds"] = 0
            meta["finalizers"] = sorted({*meta.get("finalizers", []), "foregroundDeletion"})
            self._bump(doc)
            return copy.deepcopy(doc)
        self.objects.pop((plural, namespace, name), None)
        return copy.deepcopy(doc)

    def collect(self) -> bool:
        """One garbage-collector pass; True if anything was removed."""
        removed = False
        live_uids = {doc["metadata"]["uid"] for doc in self.objects.values()}
        for (plural, namespace, name), doc in list(self.objects.items()):
            meta = doc["metadata"]
            refs = meta.get("ownerReferences") or []
            owners_gone = refs and all(r.get("uid") not in live_uids for r in refs)
            owner_deleting = any(self._foreground_deleting(r.get("uid", "")) for r in refs)
            if owners_gone or owner_deleting:
                nested = "Foreground" if owner_deleting else "Background"
                self.delete(plural, namespace, name, nested)
                removed = True
            elif "foregroundDeletion" in meta.get("finalizers", []) and not self.dependents(meta["uid"]):
                self.objects.pop((plural, namespace, name), None)
                removed = True
        return removed

    def _foreground_deleting(self, uid: str) -> bool:
        return any(
            d["metadata"]["uid"] == uid and "foregroundDeletion" in d["metadata"].get("finalizers", [])
            for d in self.objects.values()
        )


def check_namespace(doc: dict[str, Any], namespace: str) -> None:
    given = (doc.get("metadata") or {}).get("namespace")
    if given and given != namespace:
        raise KubeError(400, "the namespace of the provided object does not match the namespace sent on the request")

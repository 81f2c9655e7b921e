"""Events, the cluster's record of what its controllers, scheduler and kubelet did (core/v1 Event)."""

from __future__ import annotations

import secrets
from typing import Any

from fakes.kubernetes.state import Store, rfc3339


def record_event(store: Store, obj: dict[str, Any], type_: str, reason: str, message: str, component: str) -> None:
    """An Event about obj, as a controller records it; the same event again bumps its count (kubectl's "x3")."""
    meta = obj["metadata"]
    stamp = rfc3339(store.now())
    for existing in store.of_kind("events", meta["namespace"]):
        same = existing["involvedObject"].get("uid") == meta["uid"] and existing["reason"] == reason
        if same and existing["message"] == message:
            existing["count"] += 1
            existing["lastTimestamp"] = stamp
            store.changed(existing)
            return
    store.create(
        "events",
        meta["namespace"],
        {
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}"},
            "involvedObject": {
                "kind": obj["kind"],
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": obj["apiVersion"],
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": "",
        },
    )

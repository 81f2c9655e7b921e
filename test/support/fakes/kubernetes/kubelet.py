"""The scheduler's binding and a kubelet whose containers do what the test says (fakes.kubernetes.lifecycle).

Behaviour is chosen by the test: images that cannot be pulled (ErrImagePull, then ImagePullBackOff),
containers that keep crashing (CrashLoopBackOff where they restart, terminated where they cannot), pods held
in ContainerCreating, containers told to exit, and a cluster autoscaler that answers an unschedulable pod.
Before it starts a container the kubelet resolves its secretKeyRef environment: a missing Secret or key
holds the container in CreateContainerConfigError. Native sidecars (initContainers with restartPolicy
Always) start first and are stopped once the regular containers are done; the pod's phase follows the
regular containers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fakes.kubernetes import devices
from fakes.kubernetes.events import record_event
from fakes.kubernetes.scheduler import Node, pod_requests, schedule
from fakes.kubernetes.state import Store, rfc3339


@dataclass
class Behaviour:
    bad_images: set[str] = field(default_factory=set)
    crashing: dict[str, int] = field(default_factory=dict)  # container name -> exit code, every run
    hold: bool = False  # scheduled pods stay in ContainerCreating
    autoscaler: bool = False  # a cluster autoscaler answers an unschedulable pod with a scale-up (an Event)
    exits: dict[tuple[str, str], int] = field(default_factory=dict)  # (pod, container) -> exit code, once
    pulls: dict[tuple[str, str], int] = field(default_factory=dict)  # failed pulls so far, per pod uid+container


class Kubelet:
    def __init__(self, store: Store, nodes: list[Node], behaviour: Behaviour) -> None:
        self.store, self.nodes, self.behaviour = store, nodes, behaviour
        self.gpus: dict[str, dict[str, list[int]]] = {}  # pod uid -> container -> GPU indices on its node
        self.pod_mtu = devices.DEFAULT_POD_MTU

    def view(self, pod: dict[str, Any], container_name: str) -> devices.ContainerView:
        """What the named container of a scheduled pod sees of its node (fakes.kubernetes.devices)."""
        node = next(n for n in self.nodes if n.name == pod["spec"]["nodeName"])
        containers = [*(pod["spec"].get("initContainers") or []), *(pod["spec"].get("containers") or [])]
        container = next(c for c in containers if c["name"] == container_name)
        given = self.gpus.get(pod["metadata"]["uid"], {}).get(container_name, [])
        node_gpus = int(node.allocatable.get("nvidia.com/gpu", 0))
        return devices.view(node.name, node_gpus, given, container, self.pod_mtu)

    def _allocate_gpus(self, pod: dict[str, Any], node: Node) -> None:
        live = {
            p["metadata"]["uid"]
            for p in self.store.of_kind("pods")
            if p["spec"].get("nodeName") == node.name and p["status"].get("phase") not in ("Succeeded", "Failed")
        }
        taken = {i for uid, given in self.gpus.items() if uid in live for ids in given.values() for i in ids}
        given = devices.allocate(int(node.allocatable.get("nvidia.com/gpu", 0)), taken, pod)
        if given:
            self.gpus[pod["metadata"]["uid"]] = given

    @property
    def now(self) -> float:
        return self.store.now()

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, component: str) -> None:
        record_event(self.store, obj, type_, reason, message, component)

    def schedule(self) -> None:
        used: dict[str, dict[str, Decimal]] = {}
        pods = self.store.of_kind("pods")
        for pod in pods:
            node = pod["spec"].get("nodeName")
            if node and pod["status"].get("phase") not in ("Succeeded", "Failed"):
                for name, amount in pod_requests(pod["spec"]).items():
                    used.setdefault(node, {}).setdefault(name, Decimal(0))
                    used[node][name] += amount
        for pod in pods:
            if pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
                continue
            node, message = schedule(self.nodes, pod["spec"], used)
            stamp = rfc3339(self.now)
            if node is None:
                condition = {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": stamp,
                    "reason": "Unschedulable",
                    "message": message,
                }
                if pod["status"].get("conditions") != [condition]:
                    pod["status"]["conditions"] = [condition]
                    self.store.changed(pod)
                self.event(pod, "Warning", "FailedScheduling", message, "default-scheduler")
                if self.behaviour.autoscaler:  # cluster-autoscaler's event (its FAQ: "TriggeredScaleUp")
                    scale = "pod triggered scale-up: [{gpu-pool 0->1 (max: 3)}]"
                    self.event(pod, "Normal", "TriggeredScaleUp", scale, "cluster-autoscaler")
                continue
            pod["spec"]["nodeName"] = node
            self._allocate_gpus(pod, next(n for n in self.nodes if n.name == node))
            for name, amount in pod_requests(pod["spec"]).items():
                used.setdefault(node, {}).setdefault(name, Decimal(0))
                used[node][name] += amount
            pod["status"].update(
                conditions=[
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": stamp}
                ],
                hostIP="10.0.0.2",
                startTime=stamp,
            )
            self.store.changed(pod)
            where = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            self.event(pod, "Normal", "Scheduled", f"Successfully assigned {where} to {node}", "default-scheduler")

    def run(self) -> None:
        for pod in self.store.of_kind("pods"):
            if not pod["spec"].get("nodeName") or pod["status"].get("phase") in ("Succeeded", "Failed"):
                continue
            before = copy.deepcopy(pod["status"])
            self._run_containers(pod)
            if pod["status"] != before:
                self.store.changed(pod)

    def _run_containers(self, pod: dict[str, Any]) -> None:
        spec, status = pod["spec"], pod["status"]
        sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        main = spec.get("containers") or []
        old = {s["name"]: s for s in [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]}
        if self.behaviour.hold:
            waiting = {"waiting": {"reason": "ContainerCreating"}}
            status["initContainerStatuses"] = [_status(c, old, waiting) for c in sidecars]
            status["containerStatuses"] = [_status(c, old, waiting) for c in main]
            return
        status["initContainerStatuses"] = [self._container(pod, c, old, restartable=True) for c in sidecars]
        sidecars_up = all(s["state"].get("running") for s in status["initContainerStatuses"])
        restartable = spec.get("restartPolicy") in ("Always", "OnFailure")
        status["containerStatuses"] = [
            self._container(pod, c, old, restartable=restartable)
            if sidecars_up
            else _status(c, old, {"waiting": {"reason": "PodInitializing"}})
            for c in main
        ]
        done = [s["state"].get("terminated") for s in status["containerStatuses"]]
        stamp = rfc3339(self.now)
        if main and all(done):
            status["phase"] = "Succeeded" if all(t["exitCode"] == 0 for t in done if t) else "Failed"
            for sidecar in status["initContainerStatuses"]:  # stopped once the regular containers are done
                sidecar.update(ready=False, started=False, state={"terminated": _terminated(0, stamp)})
        elif any(s["state"].get("running") or s.get("restartCount") for s in status["containerStatuses"]):
            status["phase"] = "Running"
        ready = all(s.get("ready") for s in [*status["initContainerStatuses"], *status["containerStatuses"]])
        conditions = [c for c in status.get("conditions", []) if c["type"] == "PodScheduled"]
        for type_, value in (
            ("PodReadyToStartContainers", True),
            ("Initialized", sidecars_up),
            ("ContainersReady", ready),
            ("Ready", ready),
        ):
            conditions.append({"type": type_, "status": str(value), "lastProbeTime": None, "lastTransitionTime": stamp})
        status["conditions"] = conditions
        status.setdefault("podIP", "10.244.0.7")

    def _container(
        self, pod: dict[str, Any], container: dict[str, Any], old: dict[str, dict[str, Any]], *, restartable: bool
    ) -> dict[str, Any]:
        name, image, meta = container["name"], container["image"], pod["metadata"]
        previous = old.get(name) or {}
        if (previous.get("state") or {}).get("terminated") and not restartable:
            return previous
        if image in self.behaviour.bad_images:
            key = (meta["uid"], name)
            self.behaviour.pulls[key] = self.behaviour.pulls.get(key, 0) + 1
            if self.behaviour.pulls[key] == 1:
                detail = f'failed to pull and unpack image "{image}": not found'
                self.event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {detail}', "kubelet")
                return _status(container, old, {"waiting": {"reason": "ErrImagePull", "message": detail}})
            message = f'Back-off pulling image "{image}"'
            self.event(pod, "Warning", "BackOff", message, "kubelet")
            return _status(container, old, {"waiting": {"reason": "ImagePullBackOff", "message": message}})
        stamp = rfc3339(self.now)
        exit_code = self.behaviour.exits.pop((meta["name"], name), None)
        if name in self.behaviour.crashing:
            exit_code = self.behaviour.crashing[name]
        if exit_code is not None:
            if restartable and exit_code != 0:
                where = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
                message = f"Back-off restarting failed container {name} in pod {where}"
                self.event(pod, "Warning", "BackOff", message, "kubelet")
                loop = f"back-off 10s restarting failed container={name} pod={where}"
                out = _status(container, old, {"waiting": {"reason": "CrashLoopBackOff", "message": loop}})
                out["restartCount"] = previous.get("restartCount", 0) + 1
                out["lastState"] = {"terminated": _terminated(exit_code, stamp)}
                return out
            return _status(container, old, {"terminated": _terminated(exit_code, stamp)})
        if (previous.get("state") or {}).get("running"):
            return previous
        missing = self._missing_secret(meta["namespace"], container)
        if missing:
            return _status(container, old, {"waiting": {"reason": "CreateContainerConfigError", "message": missing}})
        started = (
            ("Pulled", f'Container image "{image}" already present on machine'),
            ("Created", f"Created container: {name}"),
            ("Started", f"Started container {name}"),
        )
        for reason, message in started:
            self.event(pod, "Normal", reason, message, "kubelet")
        out = _status(container, old, {"running": {"startedAt": stamp}})
        out.update(ready=True, started=True)
        return out

    def _missing_secret(self, namespace: str, container: dict[str, Any]) -> str:
        """The kubelet resolves secretKeyRef env before it starts a container: a missing Secret or key holds
        the container in CreateContainerConfigError (the kubelet's messages)."""
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if not ref or ref.get("optional"):
                continue
            secret = self.store.find("secrets", namespace, ref["name"])
            if secret is None:
                return f'secret "{ref["name"]}" not found'
            if ref["key"] not in (secret.get("data") or {}):
                return f"couldn't find key {ref['key']} in Secret {namespace}/{ref['name']}"
        return ""


def _terminated(exit_code: int, stamp: str) -> dict[str, Any]:
    return {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "startedAt": stamp,
        "finishedAt": stamp,
    }


def _status(container: dict[str, Any], old: dict[str, dict[str, Any]], state: dict[str, Any]) -> dict[str, Any]:
    previous = old.get(container["name"]) or {}
    out: dict[str, Any] = {
        "name": container["name"],
        "image": container["image"],
        "imageID": "",
        "ready": False,
        "restartCount": previous.get("restartCount", 0),
        "started": False,
        "state": state,
    }
    if previous.get("lastState"):
        out["lastState"] = previous["lastState"]
    return out


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))

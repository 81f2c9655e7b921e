"""What the cluster does on its own: the API server's defaulting, the Job and TTL-after-finished controllers,
the scheduler's binding and a kubelet whose containers do what the test says, with Events as they record them.

One `settle()` pass runs every controller once at the fake clock's time; the server calls it around every
request and tests call it through `FakeKubernetes.tick()`. Time moves only with the clock, so deadlines and
TTLs are reached by advancing it. Behaviour is chosen by the test (`Behaviour`): images that cannot be pulled
(ErrImagePull, then ImagePullBackOff), containers that keep crashing (CrashLoopBackOff where they restart,
terminated where they cannot), pods held in ContainerCreating, and containers told to exit.

Job rules (kubernetes.io/docs/concepts/workloads/controllers/job): pods carry the job-name and controller-uid
labels and a controller ownerReference; backoffLimit counts failed pods (and container restarts under
OnFailure); activeDeadlineSeconds fails the Job with reason DeadlineExceeded and deletes its running pods;
a finished Job is deleted, in the foreground, ttlSecondsAfterFinished after it finished. Native sidecars
(initContainers with restartPolicy Always) start first and are stopped once the regular containers are done;
the pod's phase follows the regular containers.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fakes.kubernetes.scheduler import Node, pod_requests, schedule
from fakes.kubernetes.state import Store, parse_time, rfc3339

JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name")


@dataclass
class Behaviour:
    bad_images: set[str] = field(default_factory=set)
    crashing: dict[str, int] = field(default_factory=dict)  # container name -> exit code, every run
    hold: bool = False  # scheduled pods stay in ContainerCreating
    autoscaler: bool = False  # a cluster autoscaler answers an unschedulable pod with a scale-up (an Event)
    exits: dict[tuple[str, str], int] = field(default_factory=dict)  # (pod, container) -> exit code, once
    pulls: dict[tuple[str, str], int] = field(default_factory=dict)  # failed pulls so far, per pod uid+container


def _image_pull_policy(image: str) -> str:
    return "Always" if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1] else "IfNotPresent"


def admit_job(doc: dict[str, Any]) -> None:
    """The API server's defaulting of a new Job: generated selector, labels on the template, defaults."""
    uid, name = doc["metadata"]["uid"], doc["metadata"]["name"]
    spec = doc.setdefault("spec", {})
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    for key, default in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6), ("suspend", False)):
        spec.setdefault(key, default)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
    labels.update(dict(zip(JOB_LABELS, (uid, name, uid, name), strict=True)))
    admit_pod_spec(spec["template"].setdefault("spec", {}))


def admit_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or []:
            container.setdefault("imagePullPolicy", _image_pull_policy(str(container.get("image", ""))))
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            container.setdefault("resources", {})


def qos_class(spec: dict[str, Any]) -> str:
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(k)
        and (r.get("requests") or {}).get(k, (r.get("limits") or {}).get(k)) == (r.get("limits") or {}).get(k)
        for r in resources
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


class Cluster:
    def __init__(self, store: Store, nodes: list[Node], behaviour: Behaviour) -> None:
        self.store, self.nodes, self.behaviour = store, nodes, behaviour

    @property
    def now(self) -> float:
        return self.store.now()

    def settle(self) -> None:
        self._ttl()
        self._jobs()
        self.store.collect()
        self._schedule()
        self._kubelet()
        self._jobs()
        self.store.collect()
        self._ttl()
        self.store.collect()

    # -- events ----------------------------------------------------------------------------------

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, component: str) -> None:
        meta = obj["metadata"]
        stamp = rfc3339(self.now)
        for existing in self.store.of_kind("events", meta["namespace"]):
            same = existing["involvedObject"].get("uid") == meta["uid"] and existing["reason"] == reason
            if same and existing["message"] == message:
                existing["count"] += 1
                existing["lastTimestamp"] = stamp
                self.store.changed(existing)
                return
        self.store.create(
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

    # -- Job and TTL-after-finished controllers --------------------------------------------------

    def _owned_pods(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        uid = job["metadata"]["uid"]
        return [
            p
            for p in self.store.of_kind("pods", job["metadata"]["namespace"])
            if any(r.get("uid") == uid and r.get("controller") for r in p["metadata"].get("ownerReferences") or [])
        ]

    def _jobs(self) -> None:
        for job in self.store.of_kind("jobs"):
            if job["metadata"].get("deletionTimestamp") or finished_at(job) is not None:
                continue
            spec, status = job["spec"], job.setdefault("status", {})
            before = copy.deepcopy(status)
            status.setdefault("startTime", rfc3339(self.now))
            pods = self._owned_pods(job)
            active = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")]
            succeeded = sum(p["status"].get("phase") == "Succeeded" for p in pods)
            failed = sum(p["status"].get("phase") == "Failed" for p in pods)
            if spec["template"]["spec"].get("restartPolicy") == "OnFailure":
                failed += sum(
                    c.get("restartCount", 0) for p in active for c in p["status"].get("containerStatuses", [])
                )
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None and self.now >= parse_time(status["startTime"]) + deadline:
                self._finish(job, active, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            elif succeeded >= spec.get("completions", 1):
                self._finish(job, active, "Complete", "", "")
            elif failed > spec.get("backoffLimit", 6):
                self._finish(
                    job, active, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                )
            elif not active:
                active = [self._create_pod(job)]
            status.update(active=len(active) if finished_at(job) is None else 0, ready=sum(map(_ready, active)))
            status.update(terminating=0, uncountedTerminatedPods={})
            for name, value in (("succeeded", succeeded), ("failed", failed)):
                if value:
                    status[name] = value
            if not status["active"]:
                status.pop("active")
            if status != before:
                self.store.changed(job)

    def _create_pod(self, job: dict[str, Any]) -> dict[str, Any]:
        meta, template = job["metadata"], copy.deepcopy(job["spec"]["template"])
        pod_meta = template.get("metadata") or {}
        pod_meta.update(
            name=f"{meta['name']}-{''.join(secrets.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}",
            ownerReferences=[
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        )
        spec = template["spec"]
        spec.setdefault("serviceAccountName", "default")
        pod = self.store.create("pods", meta["namespace"], {"metadata": pod_meta, "spec": spec})
        pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
        self.event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod_meta['name']}", "job-controller")
        return pod

    def _finish(self, job: dict[str, Any], active: list[dict[str, Any]], kind: str, reason: str, message: str) -> None:
        stamp, status = rfc3339(self.now), job["status"]
        interim = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
        conditions = status.setdefault("conditions", [])
        for type_ in (interim, kind):
            conditions.append(
                {
                    "type": type_,
                    "status": "True",
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                    **({"reason": reason, "message": message} if reason else {}),
                }
            )
        if kind == "Complete":
            status["completionTime"] = stamp
            self.event(job, "Normal", "Completed", "Job completed", "job-controller")
        else:
            self.event(job, "Warning", reason, message, "job-controller")
        for pod in active:
            self.store.delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], "Background")
            self.event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", "job-controller")

    def _ttl(self) -> None:
        for job in self.store.of_kind("jobs"):
            ttl, done = job["spec"].get("ttlSecondsAfterFinished"), finished_at(job)
            if ttl is None or done is None or job["metadata"].get("deletionTimestamp"):
                continue
            if self.now >= done + ttl:  # the TTL controller deletes with foreground propagation
                self.store.delete("jobs", job["metadata"]["namespace"], job["metadata"]["name"], "Foreground")

    # -- scheduler and kubelet ---------------------------------------------------------------------

    def _schedule(self) -> None:
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

    def _kubelet(self) -> None:
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


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def finished_at(job: dict[str, Any]) -> float | None:
    for condition in (job.get("status") or {}).get("conditions", []):
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return parse_time(condition["lastTransitionTime"])
    return None

"""What the cluster does on its own: the API server's defaulting, the Job and TTL-after-finished controllers,
and (fakes.kubernetes.kubelet) the scheduler's binding and a kubelet, with Events as they record them.

One `settle()` pass runs every controller once at the fake clock's time; the server calls it around every
request and tests call it through `FakeKubernetes.tick()`. Time moves only with the clock, so deadlines and
TTLs are reached by advancing it; what containers do is the test's choice (kubelet.Behaviour).

Job rules (kubernetes.io/docs/concepts/workloads/controllers/job): pods carry the job-name and controller-uid
labels and a controller ownerReference; backoffLimit counts failed pods (and container restarts under
OnFailure); activeDeadlineSeconds fails the Job with reason DeadlineExceeded and deletes its running pods;
a finished Job is deleted, in the foreground, ttlSecondsAfterFinished after it finished.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from fakes.kubernetes.events import record_event
from fakes.kubernetes.kubelet import Behaviour, Kubelet, ready
from fakes.kubernetes.scheduler import Node
from fakes.kubernetes.state import Store, parse_time, rfc3339

JOB_LABELS = ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name", "controller-uid", "job-name")


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
        self.kubelet = Kubelet(store, nodes, behaviour)

    @property
    def now(self) -> float:
        return self.store.now()

    def settle(self) -> None:
        self._ttl()
        self._jobs()
        self.store.collect()
        self.kubelet.schedule()
        self.kubelet.run()
        self._jobs()
        self.store.collect()
        self._ttl()
        self.store.collect()

    # -- events ----------------------------------------------------------------------------------

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str, component: str) -> None:
        record_event(self.store, obj, type_, reason, message, component)

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
            status.update(active=len(active) if finished_at(job) is None else 0, ready=sum(map(ready, active)))
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


def finished_at(job: dict[str, Any]) -> float | None:
    for condition in (job.get("status") or {}).get("conditions", []):
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return parse_time(condition["lastTransitionTime"])
    return None

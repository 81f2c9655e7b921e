"""Why a runner's pod is not up yet, read from the pod and its Job as the API returns them (plain dicts).

One line per kind of trouble, in the words `kubectl describe pod` would show: the scheduler's own message
for an Unschedulable pod, the kubelet's waiting reason for an image pull or a crash loop. Fatal means the pod
will not get better by itself, so the runner flow stops waiting and rolls back: no node can take it (the
scheduler found none; without a cluster autoscaler's scale-up under way, waiting does not change that), its
image name is invalid, or the pod or its Job has failed.
"""

from __future__ import annotations

from typing import Any

from pipe.providers.base import Trouble

PULL_TROUBLE = ("ErrImagePull", "ImagePullBackOff")
FATAL_WAITING = ("InvalidImageName",)


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def job_trouble(job: dict[str, Any]) -> Trouble | None:
    failed = _conditions(job).get("Failed")
    if failed and failed.get("status") == "True":
        return Trouble(f"Job {job['metadata']['name']} failed: {failed.get('reason')}: {failed.get('message')}", True)
    return None


def pod_trouble(pod: dict[str, Any], scaling_up: bool = False) -> Trouble | None:
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    scheduled = _conditions(pod).get("PodScheduled")
    if scheduled and scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        wait = "; the cluster autoscaler is adding a node" if scaling_up else ""
        return Trouble(f"pod {name} cannot be scheduled: {scheduled.get('message', '')}{wait}", fatal=not scaling_up)
    containers = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    if status.get("phase") == "Failed":
        ended = [c for c in containers if ((c.get("state") or {}).get("terminated") or {}).get("exitCode")]
        detail = ", ".join(
            f"container {c['name']} exited with {c['state']['terminated']['exitCode']} "
            f"({c['state']['terminated'].get('reason', 'Error')})"
            for c in ended
        )
        return Trouble(f"pod {name} failed: {detail or status.get('reason') or 'no container ran'}", True)
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in PULL_TROUBLE or reason in FATAL_WAITING:
            return Trouble(
                f"pod {name}: container {container['name']} cannot pull image {container.get('image')}: "
                f"{reason}: {waiting.get('message', '')}".rstrip(": "),
                fatal=reason in FATAL_WAITING,
            )
        if reason == "CrashLoopBackOff":
            last = ((container.get("lastState") or {}).get("terminated")) or {}
            return Trouble(
                f"pod {name}: container {container['name']} keeps crashing (CrashLoopBackOff, last exit code "
                f"{last.get('exitCode', '?')})"
            )
        if reason == "CreateContainerConfigError":
            return Trouble(f"pod {name}: container {container['name']}: {waiting.get('message', reason)}")
    return None

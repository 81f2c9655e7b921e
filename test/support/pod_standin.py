"""Plays the runner container of our pods on the local Kubernetes, for end-to-end tests and the demo.

It watches the fake cluster for pods whose `runner` container the kubelet has started, resolves that
container's environment as the kubelet would (plain values, and secretKeyRef from the Secret the pipe wrote),
and presents the OAuth client credentials to the local Bitbucket's token endpoint, as Atlassian's runner does
when it starts. So a runner goes ONLINE only if its credentials made the whole trip: registration -> Secret
owned by the Job -> secretKeyRef in the pod -> the runner's environment.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any

from fakes.kubernetes import FakeKubernetes
from polling import PollingThread
from vm_standin import present_oauth

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@dataclass
class PodBooted:
    job: str
    runner_env: dict[str, str]
    online: bool
    output: str = ""  # as VmStandIn's Booted: nothing runs here, so nothing to show


def runner_env(kube: FakeKubernetes, pod: dict[str, Any]) -> dict[str, str]:
    """The runner container's environment, secretKeyRef values read from the Secret (decoded)."""
    namespace = pod["metadata"]["namespace"]
    containers = [*(pod["spec"].get("initContainers") or []), *pod["spec"]["containers"]]
    runner = next(c for c in containers if c["name"] == "runner")
    env: dict[str, str] = {}
    for item in runner.get("env") or []:
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            env[item["name"]] = item.get("value", "")
            continue
        secret = kube.object("secrets", namespace, ref["name"]) or {}
        env[item["name"]] = base64.b64decode((secret.get("data") or {}).get(ref["key"], "")).decode()
    return env


@dataclass
class PodStandIn(PollingThread):
    kube: FakeKubernetes
    token_url: str  # the local Bitbucket's OAuth token endpoint
    poll_s: float = 0.1
    booted: dict[str, PodBooted] = field(default_factory=dict)  # by Job name
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.kube.tick()
                pods = self.kube.objects("pods")
            except Exception:  # noqa: BLE001 - the fake may be resetting between tests; try again
                pods = []
            for pod in pods:
                job = (pod["metadata"].get("labels") or {}).get(JOB_NAME_LABEL, "")
                statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
                started = any(s["name"] == "runner" and s["state"].get("running") for s in statuses)
                if job and started and job not in self.booted:
                    env = runner_env(self.kube, pod)
                    online = present_oauth(self.token_url, env["OAUTH_CLIENT_ID"], env["OAUTH_CLIENT_SECRET"])
                    self.booted[job] = PodBooted(job, env, online)
            self._stop.wait(self.poll_s)

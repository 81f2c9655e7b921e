"""FakeKubernetes behind the one emulated-cloud interface (fakes/emulated.py). One runner's instance is
the Job the pipe creates (its pod and Secret go with it). There is no boot payload: the pod stand-in
(test/support/pod_standin.py) plays the runner container; a cluster has no zones or spot market.
"""

from __future__ import annotations

from typing import Any

from fakes.emulated import Instance, OursFromLive


class KubernetesEmulation(OursFromLive):
    name = "kubernetes"
    requests: list[Any]

    def env(self, **kwargs: Any) -> dict[str, str]:
        raise NotImplementedError

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def cloud_env(self) -> dict[str, str]:
        return self.env()

    def live_instances(self) -> list[Instance]:
        found = []
        pods = self.objects("pods")
        for job in self.objects("jobs"):
            meta = job["metadata"]
            sidecars = job["spec"]["template"]["spec"].get("initContainers") or []
            docker = [c["resources"].get("limits", {}) for c in sidecars if c["name"] == "docker"]
            limits: dict[str, Any] = docker[0] if docker else {}
            mine = [p for p in pods if p["metadata"]["labels"].get("batch.kubernetes.io/job-name") == meta["name"]]
            found.append(
                Instance(
                    meta["name"],
                    meta["name"],
                    f"{limits['cpu']}cpu-{limits['memory']}" if limits else "",
                    dict(meta.get("labels") or {}),
                    zone=f"{meta['namespace']} on {mine[0]['spec'].get('nodeName')}" if mine else "-",
                    status=mine[0]["status"].get("phase", "") if mine else "no pod",
                )
            )
        return found

    def boot_payloads(self) -> dict[str, bytes]:
        return {}

    def no_capacity(self, *, spot_only: bool = False) -> None:
        raise NotImplementedError("a cluster has no zones or spot market")

    def power_off(self, instance_id: str) -> None:
        raise NotImplementedError("no VM boots for a Job: the pod stand-in plays the runner container")

    def request_count(self) -> int | None:
        return len(self.requests)

"""FakeGcp behind the one emulated-cloud interface (fakes/emulated.py).

The boot payload is the `startup-script` metadata value; an instance with no way out (no external IP, no
Cloud NAT: has_egress) is never booted, as its runner could never reach Bitbucket. A guest's power-off
leaves the instance TERMINATED, GCP's status for a stopped instance
(cloud.google.com/compute/docs/instances/instance-life-cycle).
"""

from __future__ import annotations

from typing import Any

from fakes.emulated import Instance, OursFromLive, is_ours, zones_of
from fakes.gcp.state import Fault

BOOTING = ("PROVISIONING", "STAGING", "RUNNING")


def _last(link: object) -> str:
    return str(link or "").rsplit("/", 1)[-1]


class GcpEmulation(OursFromLive):
    name = "gcp"
    url: str

    @property
    def project(self) -> str:
        raise NotImplementedError

    def instances(self, zone: str | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def has_egress(self, zone: str, name: str) -> bool:
        raise NotImplementedError

    def capacity(self, zone: str, *, spot: bool | None = None) -> Fault:
        raise NotImplementedError

    def set_status(self, name: str, status: str) -> None:
        raise NotImplementedError

    @property
    def requests(self) -> list[Any]:
        raise NotImplementedError

    def cloud_env(self) -> dict[str, str]:
        return {"CLOUD": "gcp", "GCP_COMPUTE_ENDPOINT": self.url, "GCP_PROJECT": self.project}

    def live_instances(self) -> list[Instance]:
        return [
            Instance(
                str(raw["name"]),
                str(raw["name"]),
                _last(raw.get("machineType")),
                dict(raw.get("labels") or {}),
                spot=(raw.get("scheduling") or {}).get("provisioningModel") == "SPOT",
                disk_gb=int((raw.get("disks") or [{}])[0].get("diskSizeGb", 0)),
                zone=_last(raw.get("zone")),
                status=str(raw.get("status", "")),
            )
            for raw in self.instances()
        ]

    def boot_payloads(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for raw in self.instances():
            if not is_ours(raw.get("labels") or {}) or raw.get("status") not in BOOTING:
                continue
            if not self.has_egress(_last(raw.get("zone")), str(raw["name"])):
                continue  # no external IP and no Cloud NAT: on GCP this VM could never reach Bitbucket
            items = {i["key"]: i.get("value", "") for i in (raw.get("metadata") or {}).get("items", [])}
            if "startup-script" in items:
                found[str(raw["name"])] = str(items["startup-script"]).encode()
        return found

    def no_capacity(self, *, spot_only: bool = False) -> None:
        for zone in zones_of("gcp"):
            self.capacity(zone, spot=True if spot_only else None)

    def power_off(self, instance_id: str) -> None:
        self.set_status(instance_id, "TERMINATED")

    def request_count(self) -> int | None:
        return len(self.requests)

"""The idle agent on a VM: a systemd service watching the runner's Docker and the cloud's metadata service.

Shipped after agent.py in one program (shipping.shipped), which defines Agent and RealClock before this code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable  # noqa: UP035 - the VM may run Python 3.8

from pipe.bootstrap.agent import Agent, RealClock

# ----------------------------------------------------------------------- real host


def _run(argv: list[str], timeout: float = 60) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise OSError(f"{argv[0]}: {e}") from e
    if done.returncode != 0:
        raise OSError(f"{' '.join(argv[:3])}: exit {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


# While the runner drains, systemd must not restart it when it exits (its unit says Restart=always): a runtime
# drop-in (gone at reboot) says Restart=no until start_runner removes it.
DRAIN_DROP_IN = "/run/systemd/system/{}.d/50-cml-drain.conf"


class DockerHost:
    def __init__(self, runner_container: str, runner_service: str, baseline_file: str, root: str = "") -> None:
        self.runner = runner_container
        self.service = runner_service
        self.baseline_file = baseline_file
        self.drop_in = root + DRAIN_DROP_IN.format(runner_service)
        self.log_since = str(int(time.time()))

    def ignored(self) -> set[str]:
        try:
            with open(self.baseline_file) as f:
                return {line.strip() for line in f if line.strip()}
        except OSError:
            return set()

    def step_containers(self) -> list[str]:
        out = _run(["docker", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
        ignored = self.ignored()
        steps = []
        for line in out.splitlines():
            cid, _, name = line.strip().partition(" ")
            if cid and name != self.runner and cid not in ignored and name not in ignored:
                steps.append(cid)
        return steps

    def runner_log(self) -> list[str]:
        until = str(int(time.time()))
        try:
            done = subprocess.run(
                ["docker", "logs", "--since", self.log_since, "--until", until, self.runner],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return []
        self.log_since = until
        return (done.stdout + done.stderr).splitlines()

    def stop_runner(self) -> None:
        subprocess.run(["systemctl", "stop", self.service], check=False, timeout=120)

    def drain_runner(self) -> None:
        # SIGTERM: the runner takes no new step and runs one it holds to its end. `systemctl stop` alone
        # (docker stop -t 30) would SIGKILL it 30 s later, mid-step.
        try:
            os.makedirs(os.path.dirname(self.drop_in), exist_ok=True)
            with open(self.drop_in, "w") as f:
                f.write("[Service]\nRestart=no\n")
        except OSError:
            pass
        subprocess.run(["systemctl", "daemon-reload"], check=False, timeout=120)
        subprocess.run(["docker", "kill", "--signal", "TERM", self.runner], capture_output=True, check=False,
                       timeout=60)  # fmt: skip

    def runner_running(self) -> bool:
        try:
            return _run(["docker", "inspect", "-f", "{{.State.Running}}", self.runner], 30).strip() == "true"
        except OSError:
            return False

    def start_runner(self) -> None:
        try:
            os.remove(self.drop_in)
            subprocess.run(["systemctl", "daemon-reload"], check=False, timeout=120)
        except OSError:
            pass
        subprocess.run(["systemctl", "start", self.service], check=False, timeout=120)

    def tell_steps(self, message: str) -> None:
        # A container's stdout is its PID 1's fd 1; what is written there lands in the
        # container log that the runner streams into the step's log (best effort).
        try:
            for cid in self.step_containers():
                subprocess.run(
                    ["docker", "exec", cid, "sh", "-c", 'echo "$0" > /proc/1/fd/1', message],
                    capture_output=True, timeout=10, check=False,
                )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            pass


# ---------------------------------------------------------------------- real cloud

Http = Callable[[str, str, "dict[str, str]", float], "tuple[int, bytes]"]


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # metadata is never behind a proxy


def http(method: str, url: str, headers: dict[str, str], timeout: float = 3.0) -> tuple[int, bytes]:
    """(status, body); status 0 when the endpoint cannot be reached."""
    req = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - metadata/cloud URLs from config
    try:
        with _DIRECT.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError):
        return 0, b""


def _norm_uuid(value: str) -> str:
    return value.strip().strip("{}").lower()


class CloudMetadata:
    """Interruption notices and self-termination through the instance's metadata service."""

    def __init__(self, cfg: dict[str, Any], power_off: Callable[[], None], log: Callable[[str], None],
                 request: Http = http) -> None:  # fmt: skip
        self.cloud = cfg["cloud"]
        self.imds = cfg.get("imds_url", "http://169.254.169.254")
        self.gce = cfg.get("gce_metadata_url", "http://metadata.google.internal")
        self.gce_api = cfg.get("gce_compute_url", "https://compute.googleapis.com")
        self.arm = cfg.get("azure_arm_url", "https://management.azure.com")
        self.azure_delete = cfg.get("azure_self_delete", "resource-group")
        self.runner_uuid = _norm_uuid(cfg.get("runner_uuid", ""))
        self.power_off, self.log, self.request = power_off, log, request

    # -- notices
    def interruption(self) -> str | None:
        if self.cloud == "aws":
            token = self.aws_token()
            status, body = self.request(
                "GET", self.imds + "/latest/meta-data/spot/instance-action",
                {"X-aws-ec2-metadata-token": token}, 3.0,
            )  # fmt: skip
            return "AWS spot instance-action " + body.decode(errors="replace") if status == 200 else None
        if self.cloud == "gcp":
            status, body = self.request(
                "GET", self.gce + "/computeMetadata/v1/instance/preempted", {"Metadata-Flavor": "Google"}, 3.0
            )
            return "GCP preemption" if status == 200 and body.strip().upper() == b"TRUE" else None
        status, body = self.request(
            "GET", self.imds + "/metadata/scheduledevents?api-version=2020-07-01", {"Metadata": "true"}, 3.0
        )
        if status != 200:
            return None
        try:
            events = json.loads(body).get("Events", [])
        except ValueError:
            return None
        for event in events:
            if event.get("EventType") == "Preempt":
                return f"Azure Scheduled Event Preempt {event.get('EventId', '')} at {event.get('NotBefore', '')}"
        return None

    def aws_token(self) -> str:
        status, body = self.request(
            "PUT", self.imds + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "300"}, 3.0
        )
        return body.decode() if status == 200 else ""

    # -- termination
    def terminate(self, reason: str) -> None:
        try:
            if self.cloud == "gcp":
                self.gcp_delete_self()
            elif self.cloud == "azure" and self.azure_delete != "none":
                self.azure_delete_self()
        except Exception as e:  # noqa: BLE001 - never let a failed delete stop the power-off
            self.log(f"self-delete failed: {e}")
        # AWS: InstanceInitiatedShutdownBehavior=terminate makes this a termination.
        self.power_off()

    def gcp_delete_self(self) -> None:
        md = {"Metadata-Flavor": "Google"}
        base = self.gce + "/computeMetadata/v1/"
        values = {}
        for key in ("project/project-id", "instance/zone", "instance/name"):
            status, body = self.request("GET", base + key, md, 3.0)
            if status != 200:
                raise OSError(f"metadata {key}: HTTP {status}")
            values[key] = body.decode().strip()
        status, body = self.request("GET", base + "instance/service-accounts/default/token", md, 3.0)
        if status != 200:
            raise OSError("no service account on the instance; powering off, the sweep deletes the stopped instance")
        token = json.loads(body)["access_token"]
        url = "{}/compute/v1/projects/{}/zones/{}/instances/{}".format(
            self.gce_api, values["project/project-id"], values["instance/zone"].rsplit("/", 1)[-1],
            values["instance/name"],
        )  # fmt: skip
        status, body = self.request("DELETE", url, {"Authorization": "Bearer " + token}, 30.0)
        if status not in (200, 202):
            raise OSError(f"DELETE instance: HTTP {status} (the service account needs compute.instances.delete); "
                          "powering off, the sweep deletes the stopped instance")  # fmt: skip
        self.log("instance delete requested through its own service account")

    def azure_delete_self(self) -> None:
        md = {"Metadata": "true"}
        status, body = self.request("GET", self.imds + "/metadata/instance/compute?api-version=2021-02-01", md, 3.0)
        if status != 200:
            raise OSError(f"instance metadata: HTTP {status}")
        compute = json.loads(body)
        tags = {t.get("name", ""): t.get("value", "") for t in compute.get("tagsList", [])}
        if not self.runner_uuid or self.runner_uuid not in _norm_uuid(tags.get("cml-runner-uuid", "")):
            raise OSError("the instance's cml-runner-uuid tag does not match this runner; not deleting")
        status, body = self.request(
            "GET", self.imds + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
            + urllib.parse.quote(self.arm + "/", safe=""), md, 5.0,
        )  # fmt: skip
        if status != 200:
            raise OSError("no managed identity on the instance; powering off, the sweep deletes the VM")
        token = json.loads(body)["access_token"]
        path = "/subscriptions/{}/resourceGroups/{}".format(compute["subscriptionId"], compute["resourceGroupName"])
        if self.azure_delete == "vm":
            path += "/providers/Microsoft.Compute/virtualMachines/{}?api-version=2024-07-01".format(compute["name"])
        else:
            path += "?api-version=2021-04-01"
        status, body = self.request("DELETE", self.arm + path, {"Authorization": "Bearer " + token}, 30.0)
        if status not in (200, 202):
            raise OSError(f"DELETE {self.azure_delete}: HTTP {status} (the identity needs delete rights on it); "
                          "powering off, the sweep deletes the VM")  # fmt: skip
        self.log(f"Azure {self.azure_delete} delete requested through the managed identity")


def make_logger(console: str) -> Callable[[str], None]:
    def log(message: str) -> None:
        print("cml-agent: " + message, flush=True)  # journal (systemd captures stdout)
        try:
            with open(console, "a") as f:  # serial console, visible in the cloud console
                f.write("cml-agent: " + message + "\n")
        except OSError:
            pass

    return log


def main(argv: list[str]) -> int:
    with open(argv[1]) as f:
        cfg = json.load(f)
    root = cfg.get("root", "")
    log = make_logger(root + "/dev/console")
    with open(cfg["started_at_file"]) as f:
        started_at = float(f.read().strip())

    def power_off() -> None:
        subprocess.run(["shutdown", "-h", "now"], check=False)

    host = DockerHost(cfg["runner_container"], cfg["runner_service"], cfg["baseline_file"], root)
    agent = Agent(
        idle_timeout_s=cfg["idle_timeout_s"], max_lifetime_s=cfg["max_lifetime_s"], started_at=started_at,
        single=cfg["single"], clock=RealClock(), host=host, cloud=CloudMetadata(cfg, power_off, log), log=log,
    )  # fmt: skip
    log(f"watching: idle timeout {cfg['idle_timeout_s']} s, single {cfg['single']}, "
        f"{int(agent.deadline - time.time())} s of lifetime left")  # fmt: skip
    agent.run()
    while True:  # the power-off is under way; do not let systemd restart us into a second one
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

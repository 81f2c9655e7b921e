"""cml-runner idle agent: runs on the VM as a systemd service, stdlib only (Python >= 3.8).

Shipped inside the startup script. Decides when the instance goes away:
- busy = a step container is running (any container other than the runner and the
  containers that existed before the runner started), or the runner's log says a step
  is in progress (second signal, covers image pulls before the step's containers exist);
- the idle clock runs only while not busy; after IDLE_TIMEOUT idle (or after one step
  with SINGLE) it stops the runner, re-checks, then terminates the instance;
- MAX_LIFETIME and spot/preemption notices end the instance whatever the state.
Time, containers, metadata and power-off are injected, so tests drive it with fakes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Protocol  # noqa: UP035 - the VM may run Python 3.8

POLL_S = 5.0
DOCKER_ERRORS_BEFORE_IDLE = 36  # ~3 min of a broken docker CLI before we stop trusting "busy"
LOG_BUSY_CAP_S = 900.0  # a step seen only in the log (pulls, uploads, missed end line) holds the VM this long at most
# The Linux Docker runner's log lines (best effort; checked in this order).
LOG_END = re.compile(r"step progress to COMPLETED|runner state to not executing step|Completed step", re.I)
LOG_START = re.compile(r"step progress to \w+|runner state to executing step|Executing step|Starting step", re.I)


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Host(Protocol):
    def step_containers(self) -> list[str]:
        """Ids of running step containers; raises OSError if Docker cannot be asked."""
        ...

    def runner_log(self) -> list[str]:
        """Runner log lines written since the previous call."""
        ...

    def stop_runner(self) -> None:
        """Stop the runner now: a step it holds is cut off (MAX_LIFETIME, a spot notice)."""
        ...

    def drain_runner(self) -> None:
        """Stop the runner so it takes no new step, letting it finish a step it already holds (idle end)."""
        ...

    def start_runner(self) -> None: ...

    def tell_steps(self, message: str) -> None:
        """Best effort: put message into the running steps' logs."""
        ...


class Cloud(Protocol):
    def interruption(self) -> str | None:
        """A description of a pending spot/preemption notice, or None."""
        ...

    def terminate(self, reason: str) -> None:
        """End the instance: delete it where the cloud needs that, then power off."""
        ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Agent:
    def __init__(
        self,
        *,
        idle_timeout_s: float | None,
        max_lifetime_s: float,
        started_at: float,
        single: bool,
        clock: Clock,
        host: Host,
        cloud: Cloud,
        log: Callable[[str], None],
        poll_s: float = POLL_S,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.deadline = started_at + max_lifetime_s
        self.single = single
        self.clock, self.host, self.cloud, self.log = clock, host, cloud, log
        self.poll_s = poll_s
        self.idle_since = clock.now()
        self.busy_before = False
        self.steps_done = 0
        self.log_busy_since: float | None = None
        self.docker_errors = 0
        self.finished: str | None = None

    def busy(self) -> bool:
        now = self.clock.now()
        for line in self.host.runner_log():
            if LOG_END.search(line):
                self.log_busy_since = None
            elif LOG_START.search(line) and self.log_busy_since is None:
                self.log_busy_since = now
        log_busy = self.log_busy_since is not None and now - self.log_busy_since < LOG_BUSY_CAP_S
        try:
            containers = bool(self.host.step_containers())
            self.docker_errors = 0
        except OSError as e:
            self.docker_errors += 1
            self.log(f"cannot list containers ({e}); keeping the previous state")
            if self.docker_errors < DOCKER_ERRORS_BEFORE_IDLE:
                return self.busy_before or log_busy
            containers = False
        if containers and self.log_busy_since is not None:
            self.log_busy_since = now  # the cap counts from the last sign of a step
        return containers or log_busy

    def poll(self) -> str | None:
        """One check; returns the reason when the instance is being terminated."""
        now = self.clock.now()
        notice = self.cloud.interruption()
        if notice:
            message = f"cml-runner: the cloud is reclaiming this instance ({notice}); stopping the runner"
            self.host.tell_steps(message)
            return self.finish(f"interrupted: {notice}")
        if now >= self.deadline:
            self.host.tell_steps("cml-runner: MAX_LIFETIME reached; this instance is shutting down")
            return self.finish("max lifetime reached")
        busy = self.busy()
        if busy:
            self.idle_since = now
        elif self.busy_before:
            self.steps_done += 1
            self.idle_since = now
            self.log(f"step ended (steps done: {self.steps_done})")
        self.busy_before = busy
        if busy:
            return None
        if self.single and self.steps_done >= 1:
            return self.shut_down_if_still_idle("single step done")
        if self.idle_timeout_s is not None and now - self.idle_since >= self.idle_timeout_s:
            return self.shut_down_if_still_idle(f"idle for {int(now - self.idle_since)} s")
        return None

    def shut_down_if_still_idle(self, reason: str) -> str | None:
        self.log(f"{reason}: stopping the runner so it takes no new step")
        self.host.drain_runner()
        if self.busy():
            self.log("a step started while stopping; restarting the runner")
            self.host.start_runner()
            self.busy_before = True
            self.idle_since = self.clock.now()
            return None
        return self.finish(reason)

    def finish(self, reason: str) -> str:
        self.log(f"terminating the instance: {reason}")
        self.host.stop_runner()
        self.cloud.terminate(reason)
        self.finished = reason
        return reason

    def run(self) -> str:
        while True:
            reason = self.poll()
            if reason:
                return reason
            self.clock.sleep(self.poll_s)


# ----------------------------------------------------------------------- real host


def _run(argv: list[str], timeout: float = 60) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise OSError(f"{argv[0]}: {e}") from e
    if done.returncode != 0:
        raise OSError(f"{' '.join(argv[:3])}: exit {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


DRAIN_QUIET_S = 30.0  # a draining runner with no step container for this long is stopped (docker stop's grace)
DRAIN_DROP_IN = "/run/systemd/system/{service}.d/50-cml-drain.conf"


class DockerHost:
    def __init__(self, runner_container: str, runner_service: str, baseline_file: str,
                 deadline: float | None = None, root: str = "") -> None:  # fmt: skip
        self.runner = runner_container
        self.service = runner_service
        self.baseline_file = baseline_file
        self.deadline = deadline  # MAX_LIFETIME: draining never waits past it
        self.drop_in = root + DRAIN_DROP_IN.format(service=runner_service)
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
        # SIGTERM makes the runner take no new step; a step handed to it at that very moment it runs to its
        # end. `systemctl stop` alone (docker stop -t 30) would SIGKILL it 30 s later and leave that step
        # half-done in Bitbucket (seen on a real VM: test/test_vm_idle.py). So: no restart while draining,
        # SIGTERM, wait while a step container runs (never past MAX_LIFETIME), then stop the unit.
        try:
            os.makedirs(os.path.dirname(self.drop_in), exist_ok=True)
            with open(self.drop_in, "w") as f:
                f.write("[Service]\nRestart=no\n")
            subprocess.run(["systemctl", "daemon-reload"], check=False, timeout=120)
            subprocess.run(["docker", "kill", "--signal", "TERM", self.runner], capture_output=True, check=False,
                           timeout=60)  # fmt: skip
            quiet_since = time.time()
            while self.runner_running():
                now = time.time()
                if self.deadline is not None and now >= self.deadline:
                    break
                try:
                    if self.step_containers():
                        quiet_since = now
                except OSError:
                    pass
                if now - quiet_since >= DRAIN_QUIET_S:
                    break
                time.sleep(2)
        except (OSError, subprocess.SubprocessError):
            pass
        finally:
            self.stop_runner()
            try:
                os.remove(self.drop_in)
            except OSError:
                pass
            subprocess.run(["systemctl", "daemon-reload"], check=False, timeout=120)

    def runner_running(self) -> bool:
        try:
            return _run(["docker", "inspect", "-f", "{{.State.Running}}", self.runner], 30).strip() == "true"
        except OSError:
            return False

    def start_runner(self) -> None:
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

    deadline = started_at + cfg["max_lifetime_s"]
    host = DockerHost(cfg["runner_container"], cfg["runner_service"], cfg["baseline_file"], deadline, root)
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

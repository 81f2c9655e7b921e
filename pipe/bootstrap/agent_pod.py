"""The idle agent in a Kubernetes pod: the pod's one regular container, watching the Docker-in-Docker daemon
through the shared socket; when it returns, the pod completes and the Job is finished.

Shipped after agent.py in one program (shipping.shipped), which defines Agent, Clock and RealClock before this
code; the VM's startup script carries none of it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from http.client import HTTPConnection, HTTPException
from typing import Callable  # noqa: UP035 - the pod's Python may be older than the pipe's

from pipe.bootstrap.agent import Agent, Clock, RealClock


class _UnixConnection(HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class DockerSocketHost:
    """In a Kubernetes pod: the Docker-in-Docker daemon runs only step containers (the runner is a sibling
    container of the pod, not one of this daemon's), asked through the shared socket with the Engine API.

    The runner cannot be stopped from here: a pod's containers are the kubelet's. So the agent's re-check
    after "stopping" is a plain second look, and a step the runner takes in that instant is ended with the
    pod (Bitbucket marks it failed; re-run it). The runner's log is not visible either: busy = containers."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def step_containers(self) -> list[str]:
        conn = _UnixConnection(self.socket_path, 10.0)
        try:
            conn.request("GET", "/containers/json")
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, HTTPException) as e:
            raise OSError(f"docker socket {self.socket_path}: {e}") from e
        finally:
            conn.close()
        if resp.status != 200:
            raise OSError(f"docker socket {self.socket_path}: HTTP {resp.status}")
        try:
            return [c["Id"] for c in json.loads(body) if c.get("Id")]
        except (ValueError, TypeError, KeyError) as e:
            raise OSError(f"docker socket {self.socket_path}: unexpected answer ({e})") from e

    def runner_log(self) -> list[str]:
        return []

    def stop_runner(self) -> None:
        return None

    def drain_runner(self) -> None:
        # Nothing to do from here: when the agent returns, the kubelet stops the runner sidecar itself with
        # SIGTERM (no new step; one it holds runs on) and SIGKILL after terminationGracePeriodSeconds (60 s).
        return None

    def runner_running(self) -> bool:
        return False  # not visible from here: nothing to wait for before the re-check

    def start_runner(self) -> None:
        return None

    def tell_steps(self, message: str) -> None:
        return None


class PodCloud:
    """Kubernetes has no spot notice to read here, and ending the agent ends the pod: the Job completes."""

    def interruption(self) -> str | None:
        return None

    def terminate(self, reason: str) -> None:
        return None


def main_in_pod(environ: dict[str, str], clock: Clock, log: Callable[[str], None]) -> int:
    """The agent as the pod's regular container: returns (exit 0) when the pod should end."""
    cfg = json.loads(environ["CML_AGENT_CONFIG"])
    agent = Agent(
        idle_timeout_s=cfg["idle_timeout_s"], max_lifetime_s=cfg["max_lifetime_s"], started_at=cfg["started_at"],
        single=cfg["single"], clock=clock, host=DockerSocketHost(cfg["docker_socket"]), cloud=PodCloud(), log=log,
        # The kubelet starts this container once the runner sidecar has started, its image pulled (native
        # sidecars start in order, before the regular containers), and the runner's log is not visible here:
        # the idle clock runs from now.
        runner_ready=True,
    )  # fmt: skip
    log(f"watching: idle timeout {cfg['idle_timeout_s']} s, single {cfg['single']}, "
        f"{int(agent.deadline - clock.now())} s of lifetime left")  # fmt: skip
    reason = agent.run()
    log(f"ending the pod: {reason}")
    return 0


def main(argv: list[str]) -> int:
    return main_in_pod(dict(os.environ), RealClock(), lambda m: print("cml-agent: " + m, flush=True))


if __name__ == "__main__":
    sys.exit(main(sys.argv))

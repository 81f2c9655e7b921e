"""The local servers the benchmarks run the pipe against, started once per benchmark run.

moto_server behind the fault proxy (AWS), the Compute Engine stand-in (GCP), the local
ARM + Entra ID (Azure) and the local Bitbucket. Each records when a request arrives
(time.time()), so a figure is taken by the server, not by the process measured.
"""

from __future__ import annotations

import contextlib
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakes.aws import FakeAws, ec2_client
from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fakes.gcp import FakeGcp
from fakes.moto import AMI_ROOT_GB, MotoServer
from fixtures_pipe import REPO_ROOT, pipe_env

if TYPE_CHECKING:
    from fakes.azure import FakeAzure  # imports the Azure SDK: only when the servers start
    from fakes.emulated import EmulatedCloud

CLOUDS = ("aws", "gcp", "azure")
RUNNER_GET_ROUTES = tuple(
    f"GET {base}/pipelines-config/runners/{{runner_uuid}}"
    for base in ("/repositories/{workspace}/{repo_slug}", "/workspaces/{workspace}")
)


class TimedBitbucket(FakeBitbucket):
    """The local Bitbucket, noting the moment each runner is flipped ONLINE (present_oauth)."""

    def reset(self) -> None:
        super().reset()
        self.online_at: list[float] = []

    def present_oauth(self, client_id: str, client_secret: str) -> str | None:
        issued = super().present_oauth(client_id, client_secret)
        if issued is not None:
            self.online_at.append(time.time())
        return issued

    def runner_polls(self) -> int:
        return sum(self.request_count(route) for route in RUNNER_GET_ROUTES)


def quiet_disconnects() -> None:
    """A killed pipe drops its connections: the servers need not print a traceback for each."""
    if getattr(socketserver.BaseServer.handle_error, "_bench_quiet", False):
        return
    original = socketserver.BaseServer.handle_error

    def handle_error(self: socketserver.BaseServer, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        original(self, request, client_address)

    handle_error._bench_quiet = True  # type: ignore[attr-defined]
    socketserver.BaseServer.handle_error = handle_error  # type: ignore[method-assign]


@dataclass
class Servers:
    moto: MotoServer
    aws: FaultProxy
    gcp: FakeGcp
    azure: FakeAzure
    bitbucket: TimedBitbucket

    @classmethod
    def start(cls) -> Servers:
        from fakes.azure import FakeAzure

        quiet_disconnects()
        moto = MotoServer().start()
        azure = FakeAzure().start()
        azure.retry_after = None  # answer long-running operations at once: the pipe is measured, not ARM
        bitbucket = TimedBitbucket()
        bitbucket.start()
        return cls(moto, FaultProxy(moto.url, AMI_ROOT_GB).start(), FakeGcp().start(), azure, bitbucket)

    def stop(self) -> None:
        for stop in (self.bitbucket.stop, self.azure.stop, self.gcp.stop, self.aws.stop, self.moto.stop):
            with contextlib.suppress(Exception):
                stop()

    def reset(self) -> None:
        """Forget everything a run created (instances, runners, logs)."""
        self.moto.reset()
        self.aws.requests.clear()
        self.gcp.reset()
        self.azure.reset()
        self.azure.retry_after = None
        self.bitbucket.reset()

    def first_cloud_request(self, cloud: str) -> float | None:
        """Arrival time of the first request the cloud's endpoint received since the last reset."""
        if cloud == "aws":
            return self.aws.requests[0][0] if self.aws.requests else None
        log = self.gcp.requests if cloud == "gcp" else self.azure.requests
        return log[0].at if log else None

    def clouds(self) -> dict[str, EmulatedCloud]:
        """Each cloud behind the one emulated-cloud interface (fakes/emulated.py)."""
        aws = FakeAws(ec2_client(self.moto.url, "us-west-1"), self.aws, region="us-west-1")
        return {"aws": aws, "gcp": self.gcp, "azure": self.azure}

    def cloud_env(self, cloud: str) -> dict[str, str]:
        extra = {"AWS_MAX_ATTEMPTS": "1"} if cloud == "aws" else {}
        return {**self.clouds()[cloud].cloud_env(), **extra}

    def bitbucket_env(self) -> dict[str, str]:
        return self.bitbucket.pipeline_env()

    def runner_env(self, cloud: str, workdir: Path, **extra: str) -> dict[str, str]:
        """Variables of a runner-mode run on cloud, as in test/e2e/test_runner_aws.py (production poll interval)."""
        return {
            **self.cloud_env(cloud),
            **self.bitbucket_env(),
            "CLOUD_REGION": "us-west",
            "WAIT_TIMEOUT": "120s",
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(workdir),
            **extra,
        }


class PipeProcess:
    """The pipe (or a baseline) in a child process, with the moment it was spawned and the moment it ended."""

    def __init__(self, env: Mapping[str, str | None], args: tuple[str, ...] = ("-m", "pipe"), cwd: Path | None = None):
        full = pipe_env(env, cwd)
        # As in the image, bytecode is allowed (the image compiles it at build time); the first run writes it.
        full.pop("PYTHONDONTWRITEBYTECODE", None)
        self.started_at = time.time()  # just before the spawn
        self.process = subprocess.Popen(
            [sys.executable, *args],
            env=full,
            cwd=str(cwd or REPO_ROOT),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.ended_at: float | None = None
        self.output = ""
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        out, _ = self.process.communicate()
        self.ended_at = time.time()
        self.output = out or ""

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.join(10)

    def join(self, timeout: float) -> int | None:
        self._waiter.join(timeout)
        if self._waiter.is_alive():
            self.process.kill()
            self._waiter.join(10)
        return self.process.returncode


def wait_for(condition: object, timeout_s: float, every_s: float = 0.005) -> bool:
    """Poll condition() (a callable) until true or timeout; True if it became true."""
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return bool(condition())

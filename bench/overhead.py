"""Pipe overhead: from spawning `python -m pipe` (runner mode) to the first request reaching the cloud endpoint.

The endpoint (moto's fault proxy, the GCP and Azure stand-ins) timestamps the arrival; the
reference is time.time() just before the spawn. The process is killed as soon as that request
has arrived and the servers are reset, so nothing a run created survives it.

Baseline, in the same run and interleaved with it: the same pipe run by a process that first
imports all three clouds' SDKs eagerly (what the pipe would cost without per-cloud lazy imports),
so it makes exactly the same first request the same way.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import PipeProcess, Servers, wait_for
from bench.table import Row, median

EAGER_BASELINE = """
import boto3
import google.cloud.compute_v1
import azure.mgmt.compute, azure.mgmt.network, azure.mgmt.resource
import azure.identity
from pipe.pipe import main
raise SystemExit(main())
"""
TIMEOUT_S = 60.0
AWS_GOAL_S = 1.0
AWS_GOAL_RATIO = 0.3


@dataclass
class Overhead:
    pipe: dict[str, list[float]] = field(default_factory=dict)
    eager: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def first_request_delay(servers: Servers, cloud: str, args: tuple[str, ...], workdir: Path) -> float:
    """Seconds from spawn to the first request at the cloud's endpoint; the run is then killed."""
    servers.reset()
    proc = PipeProcess(servers.runner_env(cloud, workdir), args=args)
    try:
        arrived = wait_for(lambda: servers.first_cloud_request(cloud) is not None or not proc.running, TIMEOUT_S)
        first = servers.first_cloud_request(cloud)
        if not arrived or first is None:
            raise RuntimeError(f"{cloud}: no request reached the cloud; output:\n{proc.output[-2000:]}")
        return first - proc.started_at
    finally:
        proc.kill()
        servers.reset()


def measure(servers: Servers, runs: int, clouds: tuple[str, ...], warmup: bool = True) -> Overhead:
    result = Overhead()
    variants = {"pipe": ("-m", "pipe"), "eager": ("-c", EAGER_BASELINE)}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        for cloud in clouds:
            samples: dict[str, list[float]] = {"pipe": [], "eager": []}
            for i in range(runs + (1 if warmup else 0)):
                for name, args in variants.items():  # interleaved: both see the same machine load
                    try:
                        delay = first_request_delay(servers, cloud, args, Path(tmp))
                    except RuntimeError as problem:
                        result.failures.append(str(problem))
                        continue
                    if i > 0 or not warmup:  # the first round writes bytecode and warms the file cache
                        samples[name].append(delay)
            result.pipe[cloud] = samples["pipe"]
            result.eager[cloud] = samples["eager"]
    return result


def rows(result: Overhead) -> list[Row]:
    out: list[Row] = []
    for cloud, samples in result.pipe.items():
        eager = result.eager.get(cloud, [])
        if not samples or not eager:
            out.append(Row(f"Pipe overhead {cloud}: start -> first cloud request", "failed", met=False))
            continue
        p, e = median(samples), median(eager)
        ratio = p / e
        measured = f"{p:.2f} s (eager baseline {e:.2f} s, {ratio:.2f}x; median of {len(samples)})"
        data = {"pipe_s": samples, "eager_s": eager, "median_s": p, "eager_median_s": e, "ratio": ratio}
        if cloud == "aws":
            goal = f"<= {AWS_GOAL_S:.1f} s and <= {AWS_GOAL_RATIO}x eager"
            met: bool | None = p <= AWS_GOAL_S and ratio <= AWS_GOAL_RATIO
        else:
            goal, met = "- (AWS is the goal)", None
        out.append(Row(f"Pipe overhead {cloud}: start -> first cloud request", measured, goal, met, data))
    return out

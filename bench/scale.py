"""Bitbucket and EC2 calls per launch in a busy repository: N runners registered, M instances running.

Worlds are seeded straight into the servers' state (test/support/sweep_world.py): N runners registered in the
repository and M instances of ours running. min(N, M) of the instances are this repository's, each with
its own ONLINE runner among the N (past the listing's first page); the rest are another repository's;
the other runners are another tool's. A last world adds leftovers of ours (50 stale runners, 50
orphaned instances), which the launch's bounded sweep must not pay for. The runner goes ONLINE when it
is registered (an instant boot), so each launch polls once and the counts depend on N and M alone.
Calls are counted by the local Bitbucket and by the fault proxy in front of moto.

Goals (issue 19): a launch with default settings makes at most 3 more Bitbucket calls than in an
empty repository, and at most 5 more EC2 calls; with REUSE_IDLE (nothing to reuse: the worst case)
at most 1 + ceil(N/100) + 4 Bitbucket calls.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from sweep_world import LONG_AGO, OUR_LABELS, run_instances, seed, tags_for

from bench.servers import PipeProcess, Servers
from bench.table import Row

SIZES = ((0, 0), (500, 0), (2000, 0), (0, 300), (500, 300), (2000, 300))
QUICK_SIZES = ((0, 0), (2000, 300))
EXTRA_BITBUCKET = 3
EXTRA_EC2 = 5


LEFTOVERS = 50  # stale runners of ours, and orphaned instances of ours, in the last world


@dataclass(frozen=True)
class Launch:
    runners: int
    instances: int
    mode: str  # "default" | "REUSE_IDLE"
    bitbucket: int
    ec2: int
    leftovers: int = 0


def _ec2(servers: Servers) -> Any:
    return boto3.client(
        "ec2",
        region_name="us-west-1",
        endpoint_url=servers.moto.url,
        aws_access_key_id="AKIAFAKEFORBENCH0001",
        aws_secret_access_key="fake-aws-secret-key-for-bench-0001",
        config=Config(retries={"max_attempts": 1}),
    )


def launch_once(
    servers: Servers, runners: int, instances: int, mode: str, workdir: Path, leftovers: int = 0
) -> Launch:
    servers.reset()
    servers.bitbucket.connect_on_register = True
    ec2 = _ec2(servers)
    seed(servers.bitbucket, ec2, runners, instances)
    if leftovers:
        bb = servers.bitbucket
        bb.seed_runners(leftovers, labels=OUR_LABELS, status="OFFLINE", updated_on=LONG_AGO, prefix="cml-stale")
        gone = [f"{{0badc0de-0000-4000-8000-{n:012d}}}" for n in range(leftovers)]
        run_instances(ec2, leftovers, [tags_for(uuid, bb.repo().uuid, age=7200) for uuid in gone])
    extra = {"REUSE_IDLE": "true", "LABELS": "cml.nomatch"} if mode == "REUSE_IDLE" else {}
    env = {**servers.runner_env("aws", workdir), "CML_RUNNER_POLL_SECONDS": "0.2", **extra}
    bb_before, ec2_before = servers.bitbucket.request_count(), len(servers.aws.requests)
    proc = PipeProcess(env)
    returncode = proc.join(120)
    if returncode != 0:
        raise RuntimeError(f"launch at N={runners}, M={instances} failed (exit {returncode}):\n{proc.output[-2000:]}")
    return Launch(runners, instances, mode, servers.bitbucket.request_count() - bb_before,
                  len(servers.aws.requests) - ec2_before, leftovers)  # fmt: skip


def measure(servers: Servers, quick: bool) -> tuple[list[Launch], list[str]]:
    launches: list[Launch] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        worlds = [(n, m, mode, 0) for n, m in (QUICK_SIZES if quick else SIZES) for mode in ("default", "REUSE_IDLE")]
        worlds.append((2000, 300, "default", LEFTOVERS))
        for runners, instances, mode, leftovers in worlds:
            try:
                launches.append(launch_once(servers, runners, instances, mode, Path(tmp), leftovers))
            except (RuntimeError, OSError) as problem:
                failures.append(str(problem))
    servers.reset()
    return launches, failures


def rows(launches: list[Launch], failures: list[str]) -> list[Row]:
    empty = next((x for x in launches if (x.runners, x.instances, x.mode) == (0, 0, "default")), None)
    out: list[Row] = []
    for x in launches:
        figure = f"Bitbucket/EC2 calls per launch{' (REUSE_IDLE)' if x.mode != 'default' else ''}: "
        figure += f"N={x.runners} runners, M={x.instances} instances"
        if x.leftovers:
            figure += f", plus {x.leftovers} stale runners and {x.leftovers} orphans of ours"
        measured = f"{x.bitbucket} Bitbucket, {x.ec2} EC2"
        data = {"bitbucket": x.bitbucket, "ec2": x.ec2, "runners": x.runners, "instances": x.instances}
        if x.mode == "default":
            if empty is None:
                out.append(Row(figure, measured, "- (no empty-repository run to compare)", None, data))
                continue
            bb_goal, ec2_goal = empty.bitbucket + EXTRA_BITBUCKET, empty.ec2 + EXTRA_EC2
            goal = f"<= {bb_goal} Bitbucket (empty + 3), <= {ec2_goal} EC2 (empty + 5)"
            met = x.bitbucket <= bb_goal and x.ec2 <= ec2_goal
        else:
            bb_goal = 1 + math.ceil(x.runners / 100) + 4
            goal = f"<= {bb_goal} Bitbucket (1 + ceil(N/100) + 4)"
            met = x.bitbucket <= bb_goal
        out.append(Row(figure, measured, goal, met, data))
    if failures:
        first = failures[0].splitlines()[0]
        out.append(Row("Bitbucket/EC2 calls per launch: failures", f"failed: {first}", "-", False))
    return out

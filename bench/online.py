"""ONLINE detection delay and Bitbucket API calls of a launch and of a reuse (runner mode on AWS).

Each run is a real launch: `python -m pipe` with the production poll interval (no
CML_RUNNER_POLL_SECONDS), moto behind the fault proxy, the local Bitbucket. The benchmark plays
the VM's runner itself: once the pipe has polled the runner's status for the first time, it waits
a chosen phase into the poll period and presents the runner's OAuth credentials to the local
Bitbucket (present_oauth: the runner is ONLINE from that moment, which the fake records). Phases
are spread over the whole poll period, the first just after a poll, so the worst case is measured
rather than left to chance. Delay = the pipe process's exit - that moment.

API calls are counted by the local Bitbucket over the whole launch; the allowance is
6 + 1 per 5 s of waiting, the wait being from the first status poll to the pipe's exit.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import PipeProcess, Servers, wait_for
from bench.table import Row, median

POLL_PERIOD_S = 5.0  # pipe/runner/wait.py POLL_EVERY_S: what the phases are spread over
DETECTION_GOAL_S = 5.0
BASE_CALLS = 6
SECONDS_PER_EXTRA_CALL = 5.0


@dataclass
class LaunchRun:
    phase_s: float
    delay_s: float
    calls: int
    wait_s: float
    returncode: int | None

    @property
    def allowance(self) -> int:
        return BASE_CALLS + int(self.wait_s // SECONDS_PER_EXTRA_CALL)


@dataclass
class Online:
    launches: list[LaunchRun] = field(default_factory=list)
    reuse_calls: int | None = None
    failures: list[str] = field(default_factory=list)


def phases(runs: int) -> list[float]:
    """Spread over one poll period, the first 50 ms after a poll (the worst case)."""
    return [0.05 + i * POLL_PERIOD_S / runs for i in range(runs)]


def launch_once(servers: Servers, phase_s: float, workdir: Path) -> LaunchRun:
    servers.reset()
    bb = servers.bitbucket
    env: dict[str, str | None] = {**servers.runner_env("aws", workdir), "CML_RUNNER_POLL_SECONDS": None}
    proc = PipeProcess(env)
    try:
        if not wait_for(lambda: bb.runner_polls() > 0 or not proc.running, 60, every_s=0.002) or not proc.running:
            raise RuntimeError(f"the pipe never polled its runner; output:\n{proc.output[-2000:]}")
        first_poll = time.time()
        time.sleep(max(0.0, first_poll + phase_s - time.time()))
        with bb.lock:
            [runner] = bb.all_runners().values()
            credentials = (runner.oauth_client_id, runner.oauth_client_secret)
        if bb.present_oauth(*credentials) is None:
            raise RuntimeError("the local Bitbucket refused the runner's credentials")
        returncode = proc.join(30 + POLL_PERIOD_S)
        if proc.ended_at is None or returncode != 0:
            raise RuntimeError(f"launch failed (exit {returncode}); output:\n{proc.output[-2000:]}")
        return LaunchRun(phase_s, proc.ended_at - bb.online_at[0], bb.request_count(), proc.ended_at - first_poll, 0)
    finally:
        proc.kill()


def reuse_calls(servers: Servers, workdir: Path) -> int:
    """API calls of a run that finds the launched runner ONLINE with the labels and reuses it."""
    before = servers.bitbucket.request_count()
    proc = PipeProcess({**servers.runner_env("aws", workdir), "REUSE": "true"})
    returncode = proc.join(60)
    if returncode != 0 or "Reusing runner" not in proc.output:
        raise RuntimeError(f"reuse run did not reuse (exit {returncode}):\n{proc.output[-2000:]}")
    return servers.bitbucket.request_count() - before


def measure(servers: Servers, runs: int) -> Online:
    result = Online()
    with tempfile.TemporaryDirectory(prefix="bench-online-") as tmp:
        for phase in phases(runs):
            try:
                result.launches.append(launch_once(servers, phase, Path(tmp)))
            except (RuntimeError, ValueError) as problem:
                result.failures.append(str(problem))
        if result.launches:
            try:
                result.reuse_calls = reuse_calls(servers, Path(tmp))  # the last launch's runner is still ONLINE
            except RuntimeError as problem:
                result.failures.append(str(problem))
        servers.reset()
    return result


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _spread(launches: list[LaunchRun]) -> str:
    low, high = min(r.phase_s for r in launches), max(r.phase_s for r in launches)
    return f"{low:.2f} s" if low == high else f"{low:.2f}-{high:.2f} s"


def _calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


def rows(result: Online) -> list[Row]:
    launches = result.launches
    if not launches:
        failed = "failed: " + (result.failures[0].splitlines()[0] if result.failures else "no run")
        return [
            Row("ONLINE detection delay (AWS, production poll)", failed, f"<= {DETECTION_GOAL_S:.0f} s", False),
            Row("Bitbucket API calls: runner launch", failed, "<= 6 + 1 per 5 s waited", False),
        ]
    delays = [r.delay_s for r in launches]
    worst = max(delays)
    detection = Row(
        "ONLINE detection delay (AWS, production poll)",
        f"median {median(delays):.2f} s, max {worst:.2f} s ({_runs(len(delays))}, ONLINE {_spread(launches)} "
        "after a poll)",
        f"<= {DETECTION_GOAL_S:.0f} s (max)",
        worst <= DETECTION_GOAL_S and not result.failures,
        {"delays_s": delays, "phases_s": [r.phase_s for r in launches]},
    )
    over = [r for r in launches if r.calls > r.allowance]
    heaviest = max(launches, key=lambda r: r.calls - r.allowance)
    calls = Row(
        "Bitbucket API calls: runner launch",
        f"{heaviest.calls} calls in {heaviest.wait_s:.1f} s of waiting (allowance {heaviest.allowance}); "
        f"all runs {sorted({r.calls for r in launches})}",
        "<= 6 + 1 per 5 s waited",
        not over,
        {
            "calls": [r.calls for r in launches],
            "wait_s": [r.wait_s for r in launches],
            "allowance": [r.allowance for r in launches],
        },
    )
    reuse = Row(
        "Bitbucket API calls: runner reuse",
        "failed" if result.reuse_calls is None else _calls(result.reuse_calls),
        "- (no goal; launch is the budget)",
        None,
        {"calls": result.reuse_calls},
    )
    return [detection, calls, reuse]

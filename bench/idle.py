"""Idle precision: the real idle agent (pipe/bootstrap/agent.py) on a fake clock, over seeded random step patterns.

For each pattern the agent polls every 5 s (fake time) until it terminates the instance. Measured:
power-off time - end of the last step that started before it (or the agent's start when no step
ran), and whether any step was running at the power-off. Goal: <= IDLE_TIMEOUT + 30 s, never
during a step. Pure computation: no process, no network, no real sleeping.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field

from fakes.clock import FakeClock

from bench.table import Row, median
from pipe.bootstrap.agent import POLL_S, Agent

IDLE_TIMEOUT_S = 300.0
SLACK_S = 30.0
LIMIT_S = 200_000.0


@dataclass
class StepHost:
    """Step containers run over fixed (start, end) intervals of fake time, sorted and disjoint."""

    clock: FakeClock
    steps: list[tuple[float, float]]
    starts: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.starts = [a for a, _ in self.steps]

    def live(self) -> list[tuple[float, float]]:
        i = bisect.bisect_right(self.starts, self.clock.t) - 1
        if i >= 0 and self.steps[i][0] <= self.clock.t < self.steps[i][1]:
            return [self.steps[i]]
        return []

    def step_containers(self) -> list[str]:
        return [f"step-{a:.0f}" for a, _ in self.live()]

    def runner_log(self) -> list[str]:
        return []

    def stop_runner(self) -> None:
        pass

    def drain_runner(self) -> None:
        pass

    def runner_running(self) -> bool:
        return False

    def start_runner(self) -> None:
        pass

    def tell_steps(self, message: str) -> None:
        pass


@dataclass
class RecordingCloud:
    clock: FakeClock
    host: StepHost
    powered_off_at: float | None = None
    during_step: bool = False

    def interruption(self) -> str | None:
        return None

    def terminate(self, reason: str) -> None:
        self.powered_off_at = self.clock.t
        self.during_step = bool(self.host.live())


def random_pattern(rng: random.Random, idle_s: float) -> list[tuple[float, float]]:
    """1-12 steps of 1 s to 50 min; gaps mostly shorter than the idle timeout, some longer."""
    t, steps = 0.0, []
    for _ in range(rng.randint(1, 12)):
        t += rng.choice([rng.uniform(0, idle_s * 0.9), rng.uniform(0, idle_s * 2 + 60), rng.uniform(0, 10)])
        length = rng.uniform(1, 3000)
        steps.append((round(t, 1), round(t + length, 1)))
        t += length + 0.1
    return steps


@dataclass
class IdleResult:
    idle_timeout_s: float
    patterns: int
    after_last_step_s: list[float]
    during_step: int
    never_off: int


def simulate(steps: list[tuple[float, float]], idle_s: float) -> tuple[float | None, float, bool]:
    """(power-off time or None, end of the last step started before it, power-off during a step?)."""
    clock = FakeClock()
    host = StepHost(clock, steps)
    cloud = RecordingCloud(clock, host)
    agent = Agent(
        idle_timeout_s=idle_s, max_lifetime_s=LIMIT_S * 2, started_at=0.0, single=False,
        clock=clock, host=host, cloud=cloud, log=lambda _m: None, runner_ready=True,  # the runner is up at 0
    )  # fmt: skip
    while clock.t <= LIMIT_S and agent.poll() is None:
        clock.sleep(POLL_S)
    off = cloud.powered_off_at
    if off is None:
        return None, 0.0, False
    last = max([0.0] + [b for a, b in steps if a <= off])
    return off, last, cloud.during_step


def measure(patterns: int, seed: int = 2026, idle_s: float = IDLE_TIMEOUT_S) -> IdleResult:
    rng = random.Random(seed)
    after: list[float] = []
    during = never = 0
    for _ in range(patterns):
        off, last, in_step = simulate(random_pattern(rng, idle_s), idle_s)
        if off is None:
            never += 1
            continue
        during += in_step
        if not in_step:
            after.append(off - last)
    return IdleResult(idle_s, patterns, after, during, never)


def rows(result: IdleResult) -> list[Row]:
    limit = result.idle_timeout_s + SLACK_S
    worst = max(result.after_last_step_s, default=float("nan"))
    met = result.during_step == 0 and result.never_off == 0 and worst <= limit
    measured = (
        f"max {worst:.0f} s, median {median(result.after_last_step_s):.0f} s, "
        f"min {min(result.after_last_step_s, default=float('nan')):.0f} s after the last step; "
        f"{result.during_step} during a step ({result.patterns} patterns)"
    )
    if result.never_off:
        measured += f"; {result.never_off} never powered off"
    data = {
        "idle_timeout_s": result.idle_timeout_s,
        "patterns": result.patterns,
        "max_s": worst,
        "median_s": median(result.after_last_step_s),
        "during_step": result.during_step,
        "never_off": result.never_off,
    }
    goal = f"<= {limit:.0f} s (IDLE_TIMEOUT {result.idle_timeout_s:.0f} + 30), 0 during a step"
    return [Row("Idle precision: power-off after the last step", measured, goal, met, data)]

"""The idle agent's decisions, driven by a fake clock, a fake container list and a fake cloud."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from fakes.clock import FakeClock

from pipe.bootstrap import agent as agent_mod
from pipe.bootstrap.agent import DRAIN_POLL_S, DRAIN_QUIET_S, LOG_BUSY_CAP_S, READY_CAP_S, Agent

POLL = 5.0


@dataclass
class FakeHost:
    """Steps are (start, end) intervals on the fake clock; a step only starts while the runner runs."""

    clock: FakeClock
    steps: list[tuple[float, float]] = field(default_factory=list)
    running: bool = True
    draining: bool = False
    exits_on_term: bool = True  # a draining runner exits once it holds no step (False: it ignores SIGTERM)
    on_drain: list[float] = field(default_factory=list)  # durations of steps handed to it as it drains
    on_stop: list[float] = field(default_factory=list)  # durations of steps that show once it is stopped
    log_lines: list[tuple[float, str]] = field(default_factory=list)
    errors_at: set[float] = field(default_factory=set)  # times at which `docker ps` fails
    events: list[tuple[float, str]] = field(default_factory=list)
    told: list[str] = field(default_factory=list)
    skipped: list[tuple[float, float]] = field(default_factory=list)

    def live(self) -> list[tuple[float, float]]:
        return [s for s in self.steps if s[0] <= self.clock.t < s[1]]

    def step_containers(self) -> list[str]:
        if self.clock.t in self.errors_at:
            raise OSError("Cannot connect to the Docker daemon")
        return [f"step-{a}" for a, _ in self.live()]

    def runner_log(self) -> list[str]:
        due = [line for t, line in self.log_lines if t <= self.clock.t]
        self.log_lines = [(t, line) for t, line in self.log_lines if t > self.clock.t]
        return due

    def stop_runner(self) -> None:
        self.events.append((self.clock.t, "stop"))
        self.running = self.draining = False
        self.steps += [(self.clock.t, self.clock.t + d) for d in self.on_stop]
        self.on_stop = []

    def drain_runner(self) -> None:
        self.events.append((self.clock.t, "drain"))
        self.draining = True
        self.steps += [(self.clock.t, self.clock.t + d) for d in self.on_drain]
        self.on_drain = []

    def runner_running(self) -> bool:
        return self.running and not (self.draining and self.exits_on_term and not self.live())

    def start_runner(self) -> None:
        self.events.append((self.clock.t, "start"))
        self.running, self.draining = True, False

    def tell_steps(self, message: str) -> None:
        self.told.append(message)


@dataclass
class FakeCloud:
    clock: FakeClock
    host: FakeHost
    notice_at: float | None = None
    notice: str = "spot"
    terminated: list[tuple[float, str, int]] = field(default_factory=list)  # (time, reason, live steps)

    def interruption(self) -> str | None:
        return self.notice if self.notice_at is not None and self.clock.t >= self.notice_at else None

    def terminate(self, reason: str) -> None:
        self.terminated.append((self.clock.t, reason, len(self.host.live())))


def make(
    idle: float | None = 300, lifetime: float = 10 * 3600, single: bool = False, ready: bool = True,
    **host_kw: object,
) -> tuple[Agent, FakeClock, FakeHost, FakeCloud]:
    """An agent whose runner is ready when it starts (ready=False: it waits for the runner's ONLINE line)."""
    clock = FakeClock()
    host = FakeHost(clock, **host_kw)  # type: ignore[arg-type]
    cloud = FakeCloud(clock, host)
    agent = Agent(
        idle_timeout_s=idle, max_lifetime_s=lifetime, started_at=0.0, single=single,
        clock=clock, host=host, cloud=cloud, log=lambda _m: None, poll_s=POLL, runner_ready=ready,
    )  # fmt: skip
    return agent, clock, host, cloud


def run_until(agent: Agent, clock: FakeClock, limit: float) -> str | None:
    while clock.t <= limit:
        reason = agent.poll()
        if reason:
            return reason
        clock.sleep(POLL)
    return None


def test_idle_vm_powers_off_after_idle_timeout() -> None:
    agent, clock, host, cloud = make(idle=300)
    assert run_until(agent, clock, 3600) == "idle for 300 s"
    assert [t for t, _, _ in cloud.terminated] == [300.0]
    assert (300.0, "stop") in host.events


def test_never_powers_off_during_a_long_step_and_powers_off_within_idle_timeout_plus_30s_after() -> None:
    agent, clock, _host, cloud = make(idle=300, steps=[(100, 5000)])
    run_until(agent, clock, 20_000)
    [(t, reason, live)] = cloud.terminated
    assert live == 0 and reason.startswith("idle")
    assert 5000 + 300 <= t <= 5000 + 300 + 30


def test_idle_clock_runs_only_while_no_step_runs() -> None:
    # gaps of 250 s between steps never add up to the 300 s idle timeout
    steps = [(i * 350.0 + 100, i * 350.0 + 200) for i in range(20)]
    agent, clock, _host, cloud = make(idle=300, steps=steps)
    run_until(agent, clock, 20_000)
    [(t, _, _)] = cloud.terminated
    assert t >= steps[-1][1] + 300


def test_step_that_shows_once_the_runner_is_stopped_keeps_the_vm_and_restarts_the_runner() -> None:
    agent, clock, host, cloud = make(idle=300, on_stop=[600.0])
    assert agent.poll() is None
    assert run_until(agent, clock, 600) is None
    assert [e for _, e in host.events] == ["drain", "stop", "start"] and host.running
    assert run_until(agent, clock, 5000) is not None
    [(t, _, live)] = cloud.terminated
    assert live == 0 and 900 + 300 <= t <= 900 + 330


def test_a_step_handed_to_the_runner_as_it_drains_runs_to_its_end_then_the_instance_ends() -> None:
    """SIGTERM at 300 s; the runner was handed a 600 s step in that instant: it is neither cut off (a stop
    would SIGKILL it 30 s later) nor followed by another idle period (the runner takes no new step)."""
    agent, clock, host, cloud = make(idle=300, on_drain=[600.0])
    assert run_until(agent, clock, 5000) == "idle for 300 s"
    assert [e for _, e in host.events][:2] == ["drain", "stop"] and "start" not in [e for _, e in host.events]
    [(t, _, live)] = cloud.terminated
    assert live == 0 and 900 <= t <= 900 + DRAIN_POLL_S
    assert host.events[1][0] >= 900  # the stop came after the step's end


def test_a_step_whose_end_line_went_with_the_drained_runner_does_not_restart_it() -> None:
    """Seen on a real VM: the draining runner took a step, ran it, printed its end line and exited; its
    container (docker run --rm) went with its log before the agent read that line."""
    agent, clock, host, cloud = make(idle=300, on_drain=[60.0], log_lines=[(301.0, GETTING_STEP)])
    assert run_until(agent, clock, 5000) == "idle for 300 s"
    assert [e for _, e in host.events][:2] == ["drain", "stop"] and "start" not in [e for _, e in host.events]
    [(t, _, live)] = cloud.terminated
    assert live == 0 and 360 <= t <= 360 + DRAIN_POLL_S


def test_a_runner_that_ignores_sigterm_is_stopped_after_the_quiet_time() -> None:
    agent, clock, host, cloud = make(idle=300, exits_on_term=False)
    assert run_until(agent, clock, 5000) == "idle for 300 s"
    (drained, _), (stopped, _) = host.events[:2]
    assert drained == 300 and 300 + DRAIN_QUIET_S <= stopped <= 300 + DRAIN_QUIET_S + DRAIN_POLL_S
    assert cloud.terminated[0][0] == stopped


def test_draining_never_waits_past_max_lifetime() -> None:
    agent, clock, host, cloud = make(idle=300, lifetime=1000, on_drain=[5000.0])
    assert run_until(agent, clock, 10_000) == "max lifetime reached"
    [(t, _, live)] = cloud.terminated
    assert live == 1 and 1000 <= t <= 1000 + POLL
    assert any("MAX_LIFETIME" in m for m in host.told)


def test_the_idle_clock_starts_when_the_runner_is_ready_not_when_the_agent_starts() -> None:
    """A slow boot: Docker installed and the runner image pulled for 400 s after the agent started; with
    IDLE_TIMEOUT 60 the runner was stopped before it could take its first step."""
    agent, clock, host, cloud = make(idle=60, ready=False, log_lines=[(400.0, RUNNER_ONLINE)])
    assert run_until(agent, clock, 5000) == "idle for 60 s"
    [(t, _, _)] = cloud.terminated
    assert 400 + 60 <= t <= 400 + 60 + POLL
    assert host.events[0] == (t, "drain")


def test_a_step_before_the_ready_line_starts_the_idle_clock_too() -> None:
    agent, clock, _host, cloud = make(idle=60, ready=False, steps=[(100.0, 200.0)])
    run_until(agent, clock, 5000)
    [(t, _, live)] = cloud.terminated
    assert live == 0 and 200 + 60 <= t <= 200 + 60 + POLL


def test_a_runner_never_heard_ready_gets_the_idle_clock_after_the_cap() -> None:
    """An agent restarted after the runner's ONLINE line, or a runner that never starts: the instance
    still ends, IDLE_TIMEOUT after the cap."""
    agent, clock, _host, cloud = make(idle=60, ready=False)
    assert run_until(agent, clock, 10 * 3600) == "idle for 60 s"
    [(t, _, _)] = cloud.terminated
    assert READY_CAP_S + 60 <= t <= READY_CAP_S + 60 + POLL


# A real Linux Docker runner's log, as iterative/cml keeps it in its own test fixture (src/cml.test.js,
# 'Runner logs'; the patterns in src/drivers/bitbucket_cloud.js runnerLogPatterns()).
RUNNER_ONLINE = (
    '[2022-06-05 17:23:41,945] Updating runner status to "ONLINE" and checking for new steps assigned to the '
    "runner after 0 seconds and then every 30 seconds."
)
GETTING_STEP = (
    "[2022-06-05 17:24:12,246] Getting step StepId{accountUuid={XXXXX-XXX-XXX-XXXXXXXX}, "
    "repositoryUuid={XXXXX-XXX-XXX-XXXXXXXX}, pipelineUuid={XXXXX-XXX-XXX-XXXXXXXX}, "
    "stepUuid={XXXXX-XXX-XXX-XXXXXXXX}}."
)
STEP_FAILED = "[2022-06-05 17:24:53,466] Completing step with result Result{status=FAILED, error=None}."
STEP_PASSED = "[2022-06-05 17:24:53,466] Completing step with result Result{status=PASSED, error=None}."


def test_an_image_pull_longer_than_the_idle_timeout_between_getting_and_completing_a_step_is_busy() -> None:
    # The runner takes the step at 280 s and pulls its image for 620 s (twice IDLE_TIMEOUT) before the
    # step container exists; the step ends at 1010 s.
    lines = [(0.0, RUNNER_ONLINE), (280.0, GETTING_STEP), (1010.0, STEP_PASSED)]
    agent, clock, _host, cloud = make(idle=300, log_lines=lines, steps=[(900, 1000)])
    run_until(agent, clock, 5000)
    [(t, reason, _)] = cloud.terminated
    assert reason.startswith("idle") and 1010 + 300 <= t <= 1010 + 330


def test_the_runner_coming_online_is_not_a_step() -> None:
    agent, clock, _host, cloud = make(idle=300, log_lines=[(0.0, RUNNER_ONLINE), (200.0, RUNNER_ONLINE)])
    run_until(agent, clock, 5000)
    assert [t for t, _, _ in cloud.terminated] == [300.0]


@pytest.mark.parametrize("end", [STEP_PASSED, STEP_FAILED])
def test_a_completed_step_of_either_result_counts_for_single(end: str) -> None:
    agent, clock, _host, cloud = make(idle=None, single=True, log_lines=[(50.0, GETTING_STEP), (400.0, end)])
    run_until(agent, clock, 5000)
    [(t, reason, _)] = cloud.terminated
    assert reason == "single step done" and 400 <= t <= 400 + POLL


def test_a_start_line_without_an_end_holds_the_vm_at_most_the_log_cap() -> None:
    agent, clock, _host, cloud = make(idle=300, log_lines=[(10.0, GETTING_STEP)])
    run_until(agent, clock, 10 * 3600)
    [(t, _, _)] = cloud.terminated
    assert LOG_BUSY_CAP_S <= t <= 10 + LOG_BUSY_CAP_S + 300 + 30


def test_a_docker_hiccup_during_a_step_is_not_a_step_end() -> None:
    agent, clock, _host, cloud = make(idle=300, single=True, steps=[(0, 1000)], errors_at={200.0, 205.0})
    run_until(agent, clock, 5000)
    [(t, reason, live)] = cloud.terminated
    assert reason == "single step done" and live == 0 and 1000 <= t <= 1000 + POLL


def test_docker_broken_for_good_does_not_keep_the_vm_forever() -> None:
    agent, clock, host, cloud = make(idle=300, steps=[(0, 100)])
    host.errors_at = {float(t) for t in range(100, 100_000, 5)}
    run_until(agent, clock, 100_000)
    [(t, _, _)] = cloud.terminated
    assert t <= 100 + agent_mod.DOCKER_ERRORS_BEFORE_IDLE * POLL + 300 + 30


def test_single_powers_off_after_the_first_step() -> None:
    agent, clock, _host, cloud = make(idle=None, single=True, steps=[(50, 400), (600, 700)])
    assert run_until(agent, clock, 5000) == "single step done"
    [(t, _, live)] = cloud.terminated
    assert live == 0 and 400 <= t <= 400 + POLL


def test_single_without_any_step_still_honours_the_idle_timeout() -> None:
    agent, clock, _host, _cloud = make(idle=120, single=True)
    assert run_until(agent, clock, 5000) == "idle for 120 s"


def test_never_idle_timeout_runs_until_max_lifetime() -> None:
    agent, clock, _host, cloud = make(idle=None, lifetime=7200, steps=[(10, 20)])
    assert run_until(agent, clock, 10_000) == "max lifetime reached"
    assert [t for t, _, _ in cloud.terminated] == [7200.0]


def test_max_lifetime_ends_even_a_running_step_and_says_so() -> None:
    agent, clock, host, cloud = make(idle=300, lifetime=3600, steps=[(100, 99_999)])
    assert run_until(agent, clock, 10_000) == "max lifetime reached"
    [(t, _, live)] = cloud.terminated
    assert t == 3600 and live == 1
    assert any("MAX_LIFETIME" in m for m in host.told)
    assert (3600, "stop") in host.events


def test_max_lifetime_counts_from_the_first_boot_not_the_agent_start() -> None:
    clock = FakeClock()
    clock.t = 5000.0  # the agent (re)started 5000 s after the first boot
    host = FakeHost(clock, steps=[(0, 99_999)])
    cloud = FakeCloud(clock, host)
    agent = Agent(idle_timeout_s=None, max_lifetime_s=6000, started_at=0.0, single=False,
                  clock=clock, host=host, cloud=cloud, log=lambda _m: None)  # fmt: skip
    assert run_until(agent, clock, 99_999) == "max lifetime reached"
    assert cloud.terminated[0][0] == 6000


def test_interruption_notice_stops_the_runner_and_tells_the_step() -> None:
    agent, clock, host, cloud = make(idle=300, steps=[(0, 99_999)])
    cloud.notice_at, cloud.notice = 1234.0, "AWS spot instance-action terminate"
    reason = run_until(agent, clock, 10_000)
    assert reason == "interrupted: AWS spot instance-action terminate"
    assert 1234 <= cloud.terminated[0][0] <= 1234 + POLL
    assert (cloud.terminated[0][0], "stop") in host.events
    assert host.told and "reclaiming" in host.told[0]


@pytest.mark.parametrize("seed", range(8))
def test_randomised_step_patterns_never_power_off_during_a_step_and_never_idle_too_long(seed: int) -> None:
    rng = random.Random(1000 + seed)  # noqa: S311 - reproducible test data
    for _ in range(40):
        idle = rng.choice([0, 30, 60, 300, 900])
        single = rng.random() < 0.2
        t, steps = 0.0, []
        for _ in range(rng.randint(0, 12)):
            t += rng.choice([rng.uniform(0, idle * 0.9 + 1), rng.uniform(0, idle * 2 + 60)])
            length = rng.uniform(1, 3000)
            steps.append((round(t), round(t + length)))
            t += length
        on_stop = [rng.uniform(10, 500)] if rng.random() < 0.2 else []
        on_drain = [rng.uniform(10, 500)] if rng.random() < 0.2 else []
        agent, clock, host, cloud = make(idle=idle, single=single, steps=steps, on_stop=on_stop, on_drain=on_drain)
        reason = run_until(agent, clock, 200_000)
        assert reason is not None
        [(end, why, live)] = cloud.terminated
        assert live == 0, (seed, idle, steps, why)
        # the last activity before the power-off: a step end, a step started while draining or stopping, or
        # the start
        activity = [0.0] + [b for a, b in host.steps if a <= end]
        last = max(activity)
        limit = POLL if (single and any(b <= end for _, b in host.steps)) else idle + 30
        assert end - last <= limit, (seed, idle, steps, end, why)
        # and no earlier gap was long enough that it should have powered off then
        busy = sorted((a, b) for a, b in host.steps if a < end)
        prev = 0.0
        for a, b in busy:
            assert a - prev < idle + 2 * POLL or (single and prev > 0), (seed, idle, steps, end)
            prev = max(prev, b)

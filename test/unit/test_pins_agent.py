"""The idle agent's caps and edges (pipe/bootstrap/agent.py), pinned to the second as a mutation run (issue #20)
probes them: how long a step start without an end, a runner never heard ready, a broken docker CLI and a
runner that ignores SIGTERM hold the instance, and what the agent logs on the way.

The figures are written out here (130 min, 15 min, 36 failed checks, 30 s, every 5 s / 2 s) rather than read
from the module: they are the behaviour a user sees, so a changed constant has to fail a test. Fakes and the
real runner's log lines are test_agent_idle.py's."""

from __future__ import annotations

from fakes.clock import FakeClock
from test_agent_idle import GETTING_STEP, RUNNER_ONLINE, STEP_FAILED, STEP_PASSED, FakeCloud, FakeHost

from pipe.bootstrap.agent import Agent

POLL = 5.0
LOG_CAP = 130 * 60  # Bitbucket's 120-minute step limit plus 10 minutes of runner set-up and tear-down
READY_CAP = 15 * 60
DOCKER_TRIES = 36  # failed `docker ps` in a row before "busy" is no longer trusted (~3 min at 5 s)


def build(
    clock: FakeClock, idle: float | None = 300, single: bool = False, started_at: float = 0.0, **host_kw: object
) -> tuple[Agent, FakeHost, FakeCloud, list[str]]:
    """An agent as agent_vm.py builds it: no poll_s, no runner_ready (the VM waits for the ONLINE line)."""
    host = FakeHost(clock, **host_kw)  # type: ignore[arg-type]
    cloud = FakeCloud(clock, host)
    logged: list[str] = []
    agent = Agent(
        idle_timeout_s=idle, max_lifetime_s=10 * 24 * 3600, started_at=started_at, single=single,
        clock=clock, host=host, cloud=cloud, log=logged.append,
    )  # fmt: skip
    return agent, host, cloud, logged


def drive(agent: Agent, clock: FakeClock, limit: float = 50_000, every: float = POLL) -> str | None:
    while clock.t <= limit:
        reason = agent.poll()
        if reason:
            return reason
        clock.sleep(every)
    return None


def test_run_checks_every_5_s_and_returns_the_reason_once_the_instance_is_ended() -> None:
    """The VM's agent (default poll) ends an instance with IDLE_TIMEOUT 302 s at the first check after it, 305 s.
    Kills: L26 NumberReplacer (POLL_S 6.0 / 4.0); L230 AddNot and ReplaceTrueWithFalse (`while not True`,
    `while False`: run() returns nothing); L232 AddNot (`if not reason`: run() returns after the first check)."""
    clock = FakeClock()
    agent, host, cloud, _ = build(clock, idle=302, log_lines=[(0.0, RUNNER_ONLINE)])
    assert agent.run() == "idle for 305 s"
    assert [(t, reason) for t, reason, _ in cloud.terminated] == [(305.0, "idle for 305 s")]
    assert host.events[0] == (305.0, "drain")


def test_the_vm_agent_waits_for_the_runners_online_line_before_the_idle_clock_runs() -> None:
    """Built without runner_ready (as on a VM), a runner that comes online 400 s after the agent (Docker and
    the runner image still installing) gets its full IDLE_TIMEOUT from then. Kills: L117 ReplaceFalseWithTrue
    (runner_ready defaults to True: stopped at 60 s, before its first step)."""
    clock = FakeClock()
    agent, _host, cloud, _ = build(clock, idle=60, log_lines=[(400.0, RUNNER_ONLINE)])
    assert drive(agent, clock) == "idle for 60 s"
    assert [t for t, _, _ in cloud.terminated] == [460.0]


def test_the_ready_log_line_says_how_long_the_runner_took_since_the_agent_started() -> None:
    """The agent started at 1000 s on the clock (a reboot); the runner is online at 1400 s: "400 s".
    Kills: L144 ReplaceBinaryOperator_Sub_Add (`now + self.started`: "2400 s")."""
    clock = FakeClock(1000.0)
    agent, _host, _cloud, logged = build(clock, started_at=1000.0, log_lines=[(1400.0, RUNNER_ONLINE)])
    drive(agent, clock, limit=1400)
    assert "runner is ready 400 s after the agent started; the idle clock runs" in logged


def test_a_runner_never_heard_ready_gets_the_idle_clock_exactly_15_min_after_the_agent_started() -> None:
    """Agent started at 2000 s (restarted after the ONLINE line), nothing heard: the idle clock runs from
    2000 + 900 s, so IDLE_TIMEOUT 60 ends the instance at 2960 s. Kills: L174 ReplaceBinaryOperator_Sub_Add
    (`now + self.started`: the cap is over at once); L174 ReplaceComparisonOperator_GtE_Gt (one check late,
    2965 s); L47 NumberReplacer #12-#15 (READY_CAP_S 16*60, 14*60, 15*61, 15*59)."""
    clock = FakeClock(2000.0)
    agent, _host, cloud, logged = build(clock, idle=60, started_at=2000.0)
    assert drive(agent, clock) == "idle for 60 s"
    assert [t for t, _, _ in cloud.terminated] == [2000.0 + READY_CAP + 60]
    assert f"runner not heard ready in {READY_CAP} s; the idle clock runs" in logged


def test_a_step_start_line_without_an_end_holds_the_vm_130_minutes_from_the_line_to_the_second() -> None:
    """The runner said "Getting step" at 1000 s and nothing since (it restarted mid-step): busy until the
    check at 1000 + 7800 s, idle from that check, ended IDLE_TIMEOUT (1200 s) later, at 10 000 s.
    Kills: L39 every mutant of LOG_BUSY_CAP_S (Add_Sub, Mul_Div #0 #1, NumberReplacer #4-#11);
    L146 ReplaceBinaryOperator_Sub_Add (`now + since`: idle at 6800 s); L146 ReplaceComparisonOperator_Lt_LtE
    (busy at exactly the cap: one check late)."""
    clock = FakeClock()
    lines = [(0.0, RUNNER_ONLINE), (1000.0, GETTING_STEP)]
    agent, _host, cloud, logged = build(clock, idle=1200, log_lines=lines)
    assert drive(agent, clock) == "idle for 1200 s"
    assert [t for t, _, _ in cloud.terminated] == [1000.0 + LOG_CAP + 1200]
    assert "runner took a step" in logged and "step ended (steps done: 1)" in logged


def test_the_runners_completed_line_is_logged_with_the_steps_result_once_per_step_it_took() -> None:
    """An end line with no start before it (FAILED, a step the agent did not see begin) is not logged; the
    step taken at 50 s and completed at 100 s is, with its result. Kills: L137
    ReplaceComparisonOperator_IsNot_Is and AddNot (logged only for an end without a start);
    L138 NumberReplacer (`group(0)`: the whole matched text instead of the status)."""
    clock = FakeClock()
    lines = [(0.0, RUNNER_ONLINE), (10.0, STEP_FAILED), (50.0, GETTING_STEP), (100.0, STEP_PASSED)]
    agent, _host, _cloud, logged = build(clock, log_lines=lines)
    drive(agent, clock, limit=200)
    assert [m for m in logged if "completed" in m] == ["runner completed a step (PASSED)"]


def test_the_log_counts_the_steps_one_by_one() -> None:
    """Kills: L180 NumberReplacer (`steps_done += 2`: "steps done: 2" after the first step)."""
    clock = FakeClock()
    agent, _host, _cloud, logged = build(clock, log_lines=[(0.0, RUNNER_ONLINE)], steps=[(10, 20), (100, 200)])
    drive(agent, clock, limit=250)
    assert [m for m in logged if m.startswith("step ended")] == [
        "step ended (steps done: 1)",
        "step ended (steps done: 2)",
    ]


def test_docker_broken_mid_run_is_trusted_busy_for_36_failed_checks_then_the_idle_clock_runs() -> None:
    """A step container runs until 100 s, then `docker ps` fails for good: the 1st to 35th failures (100 s to
    270 s) keep the last state (busy), the 36th (275 s) is no step, so IDLE_TIMEOUT 300 ends it at 575 s.
    Kills: L27 NumberReplacer #2 #3 (36 -> 37 / 35); L153 ReplaceComparisonOperator_Lt_LtE (37 failures),
    Lt_GtE and AddNot (idle at the first failure); L149 NumberReplacer #26 #27 (a success resets the count
    to 1 / -1); L151 NumberReplacer (`+= 2`)."""
    clock = FakeClock()
    errors = {float(t) for t in range(100, 50_000, 5)}
    agent, _host, cloud, logged = build(clock, log_lines=[(0.0, RUNNER_ONLINE)], steps=[(0, 100)], errors_at=errors)
    assert drive(agent, clock) == "idle for 300 s"
    assert [t for t, _, _ in cloud.terminated] == [100.0 + (DOCKER_TRIES - 1) * POLL + 300]
    assert any(m.startswith("cannot list containers (Cannot connect to the Docker daemon)") for m in logged)


def test_docker_broken_from_boot_still_counts_36_failed_checks_after_a_step_seen_in_the_log() -> None:
    """Docker never answers; the runner's log shows a step from 0 s to 50 s. The failures at 0 s to 170 s
    (1st to 35th) keep the last state, busy; the 36th at 175 s is idle, ended at 475 s. Kills: L129
    NumberReplacer #22 #23 (the count starts at 1 / -1: 170 s / 180 s)."""
    clock = FakeClock()
    lines = [(0.0, RUNNER_ONLINE), (0.0, GETTING_STEP), (50.0, STEP_PASSED)]
    agent, _host, cloud, _ = build(clock, log_lines=lines, errors_at={float(t) for t in range(0, 50_000, 5)})
    assert drive(agent, clock) == "idle for 300 s"
    assert [t for t, _, _ in cloud.terminated] == [(DOCKER_TRIES - 1) * POLL + 300]


def test_a_docker_hiccup_mid_step_neither_ends_the_step_nor_drains_the_runner() -> None:
    """`docker ps` fails once at 200 s in a step running 0-1000 s, and the runner's log shows no step (a
    step the agent saw only as a container): the last state (busy) holds. Kills: L154 ReplaceOrWithAnd
    (`busy_before and log_busy`: a step end at 200 s, and with SINGLE the runner drained mid-step)."""
    clock = FakeClock()
    agent, host, cloud, logged = build(
        clock, single=True, log_lines=[(0.0, RUNNER_ONLINE)], steps=[(0, 1000)], errors_at={200.0}
    )
    assert drive(agent, clock) == "single step done"
    assert host.events[0] == (1000.0, "drain")
    assert [m for m in logged if m.startswith("step ended")] == ["step ended (steps done: 1)"]
    assert [t for t, _, _ in cloud.terminated] == [1000.0]


def test_a_step_taken_as_the_runner_stops_counts_as_the_single_step() -> None:
    """SINGLE with IDLE_TIMEOUT 300 and no step: at 300 s the runner is stopped, and a 3 s step shows in that
    instant; the runner is restarted, and at the next check (305 s) that step is over: it was the one step,
    the instance ends. Kills: L198 ReplaceTrueWithFalse (the step is forgotten: another 300 s idle)."""
    clock = FakeClock()
    agent, host, cloud, logged = build(clock, single=True, log_lines=[(0.0, RUNNER_ONLINE)], on_stop=[3.0])
    assert drive(agent, clock) == "single step done"
    assert [e for _, e in host.events][:3] == ["drain", "stop", "start"]
    assert [t for t, _, _ in cloud.terminated] == [305.0]
    assert "step ended (steps done: 1)" in logged


def test_a_draining_runner_is_checked_every_2_s_and_stopped_right_after_its_last_step() -> None:
    """Drained at 300 s while handed a 61 s step; the agent looks every 2 s, sees the runner gone at 362 s,
    and ends the instance then. Kills: L51 NumberReplacer #19 (DRAIN_POLL_S 1.0: 361 s)."""
    clock = FakeClock()
    agent, host, cloud, _ = build(clock, log_lines=[(0.0, RUNNER_ONLINE)], on_drain=[61.0])
    assert drive(agent, clock) == "idle for 300 s"
    assert host.events[:2] == [(300.0, "drain"), (362.0, "stop")]
    assert [t for t, _, _ in cloud.terminated] == [362.0]


def test_a_runner_that_ignores_sigterm_is_stopped_at_the_check_30_s_after_the_drain() -> None:
    """The runner ignores SIGTERM and holds no step: drained at 300 s, stopped at the check at 330 s.
    Kills: L214 ReplaceComparisonOperator_GtE_Gt (stopped one check later, 332 s); L50 NumberReplacer #16
    (DRAIN_QUIET_S 31.0: 332 s)."""
    clock = FakeClock()
    agent, host, _cloud, _ = build(clock, log_lines=[(0.0, RUNNER_ONLINE)], exits_on_term=False)
    assert drive(agent, clock) == "idle for 300 s"
    assert host.events[:2] == [(300.0, "drain"), (330.0, "stop")]


class LateClock(FakeClock):
    """A loaded VM: every sleep overshoots by a quarter second."""

    def sleep(self, seconds: float) -> None:
        self.t += seconds + 0.25


def test_the_quiet_time_before_stopping_a_runner_that_ignores_sigterm_is_never_under_30_s() -> None:
    """With sleeps 0.25 s late the drain's checks fall 2.25 s apart: the one at 29.25 s is not yet quiet
    enough, the runner is stopped at the one at 31.5 s. Kills: L50 NumberReplacer #17 (DRAIN_QUIET_S 29.0:
    stopped at 29.25 s)."""
    clock = LateClock()
    agent, host, _cloud, _ = build(clock, log_lines=[(0.0, RUNNER_ONLINE)], exits_on_term=False)
    assert drive(agent, clock) is not None
    (drained, what), (stopped, what2) = host.events[:2]
    assert (what, what2) == ("drain", "stop")
    assert stopped - drained == 31.5

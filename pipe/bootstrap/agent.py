"""cml-runner idle agent: decides when the instance (a VM, or a Kubernetes pod) goes away. Stdlib only
(Python >= 3.8).

This is the decision, shared by both places the agent runs. What it watches and how it ends the instance
are agent_vm.py (a systemd service on the VM, shipped inside the startup script) and agent_pod.py (the pod's
one regular container); each ships as one program, this module then its own (shipping.shipped), so the VM's
user-data carries no pod code and the pod none of the VM's.

- busy = a step container is running (any container other than the runner and the
  containers that existed before the runner started), or the runner's log says a step
  is in progress: after its "Getting step" line and before its "Completing step" line
  (this covers image pulls before the step's containers exist);
- the idle clock runs only once the runner is ready and while not busy; after IDLE_TIMEOUT
  idle (or after one step with SINGLE) it drains the runner (no new step; one it was handed
  in that instant runs to its end), re-checks, then terminates the instance;
- MAX_LIFETIME and spot/preemption notices end the instance whatever the state.
Time, containers, metadata and power-off are injected, so tests drive it with fakes.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Protocol  # noqa: UP035 - the VM may run Python 3.8

POLL_S = 5.0
DOCKER_ERRORS_BEFORE_IDLE = 36  # ~3 min of a broken docker CLI before we stop trusting "busy"
# The Linux Docker runner logs one line when it takes a step and one when it hands the result back; between
# them it may pull a large image before any step container exists. The real lines, from iterative/cml's
# fixture of a real runner log (src/cml.test.js 'Runner logs'; patterns in src/drivers/bitbucket_cloud.js
# runnerLogPatterns()):
#   [2022-06-05 17:24:12,246] Getting step StepId{accountUuid={...}, repositoryUuid={...}, pipelineUuid={...}, ...}.
#   [2022-06-05 17:24:53,466] Completing step with result Result{status=FAILED, error=None}.
LOG_START = re.compile(r"Getting step StepId\{")
LOG_END = re.compile(r"Completing step with result Result\{status=(\w+)")
# A start line whose end line never comes (the runner restarted mid-step) holds the VM this long at most:
# Bitbucket's limit on one runner step (120 minutes, support.atlassian.com/bitbucket-cloud/docs/runners/)
# plus the runner's own set-up and tear-down. Step containers count as busy on their own, beside this.
LOG_BUSY_CAP_S = 120 * 60 + 10 * 60
# The runner's line once it has signed in and asks for steps (iterative/cml's runnerLogPatterns() 'ready'):
#   [2022-06-05 17:23:41,945] Updating runner status to "ONLINE" and checking for new steps assigned to the ...
# The idle clock starts there, not when the agent starts: on a VM the agent starts before Docker is installed
# and the runner image pulled (minutes on a stock image), and an IDLE_TIMEOUT shorter than that stopped the
# runner before its first step. A runner the agent never hears say it (an agent restarted after the line, a
# runner that never starts) gets the idle clock this long after the agent started.
LOG_READY = re.compile(r'Updating runner status to "ONLINE"')
READY_CAP_S = 15 * 60
# A draining runner (SIGTERM: no new step) is stopped once no step has shown for this long (docker stop's own
# grace), at MAX_LIFETIME at the latest.
DRAIN_QUIET_S = 30.0
DRAIN_POLL_S = 2.0


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
        """Stop the runner now: a step it holds is cut off."""
        ...

    def drain_runner(self) -> None:
        """Ask the runner to take no new step and to exit once the step it holds is done (no restart)."""
        ...

    def runner_running(self) -> bool: ...

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
        runner_ready: bool = False,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.deadline = started_at + max_lifetime_s
        self.single = single
        self.clock, self.host, self.cloud, self.log = clock, host, cloud, log
        self.poll_s = poll_s
        self.started = self.idle_since = clock.now()
        self.ready = runner_ready  # True where the runner's start cannot be seen and is over (the pod)
        self.busy_before = False
        self.steps_done = 0
        self.log_busy_since: float | None = None
        self.docker_errors = 0
        self.finished: str | None = None

    def busy(self) -> bool:
        now = self.clock.now()
        for line in self.host.runner_log():
            ended = LOG_END.search(line)
            if ended:
                if self.log_busy_since is not None:
                    self.log(f"runner completed a step ({ended.group(1)})")
                self.log_busy_since = None
            elif LOG_START.search(line) and self.log_busy_since is None:
                self.log("runner took a step")
                self.log_busy_since = now
            elif LOG_READY.search(line) and not self.ready:
                self.log(f"runner is ready {int(now - self.started)} s after the agent started; the idle clock runs")
                self.ready, self.idle_since = True, now
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
            self.ready = True
        elif not self.ready and now - self.started >= READY_CAP_S:
            self.log(f"runner not heard ready in {READY_CAP_S} s; the idle clock runs")
            self.ready, self.idle_since = True, now
        if busy or not self.ready:
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
        self.drain()
        if self.busy():
            self.log("a step started while stopping; restarting the runner")
            self.host.start_runner()
            self.busy_before = True
            self.idle_since = self.clock.now()
            return None
        return self.finish(reason)

    def drain(self) -> None:
        """A step the runner is handed as it stops runs to its end: a runner killed mid-step (docker stop's
        SIGKILL 30 s after SIGTERM) leaves the step half-done in Bitbucket (seen on a real VM, test_vm_idle)."""
        self.host.drain_runner()
        quiet_since = self.clock.now()
        while self.host.runner_running():
            now = self.clock.now()
            if now >= self.deadline:
                break
            if self.busy():
                quiet_since = now
            elif now - quiet_since >= DRAIN_QUIET_S:
                break
            self.clock.sleep(DRAIN_POLL_S)
        self.host.stop_runner()
        # The runner is gone, and a step it held with it: its last lines may be gone too (docker run --rm
        # removes the container with its log), so from here only a step container still running is a step.
        self.log_busy_since = None

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

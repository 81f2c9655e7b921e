"""Fixtures for the tests on real booted VMs (test_vm_*.py; `make vm-test` runs them alone).

- `vm_images`: the cached test images (test/support/fakes/vm/image.py), built on first use (or in the background
  from the start of the session, see conftest.py).
- `vm_cloud_factory(name, variant=...)`: an emulated cloud (moto, the local GCP or Azure) with the local
  hypervisor beside it, so each instance the pipe launches boots a real VM from its user-data; plus the
  pipe's variables for it. At teardown every VM is killed, and the test fails if one was still running.
- `launch_pipe(env)`: `python -m pipe` in runner mode as a child process, its output collected;
  `launch_online(...)`: the same, asserted ONLINE; `sweep_away(...)`: the end of a launch through the sweep.

On failure, each VM's console log is in the test's tmp_path (and its tail in the assertion message).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes.aws import FakeAws
from fakes.bitbucket import FakeBitbucket
from fakes.bitbucket.state import RunnerState
from fakes.emulated import EmulatedCloud
from fakes.vm.hypervisor import Hypervisor
from fakes.vm.image import Images, ensure_images
from fakes.vm.qemu import Vm
from fixtures_pipe import pipe_env, run_pipe, strip_ansi

from pipe.bootstrap import DEFAULT_RUNNER_IMAGE

# Generous but bounded: under TCG a boot to ONLINE takes 1-2 minutes on a quiet 2-core machine, and was seen
# at 5 (stock image) and 7.5 (installing Docker) minutes with the machine's load average at 10.
BOOT_TO_ONLINE_S = 900


@pytest.fixture(scope="session")
def vm_images() -> Images:
    return ensure_images(log=lambda line: print(f"[vm images] {line}", file=sys.stderr, flush=True))


@dataclass
class VmCloud:
    """One emulated cloud with the hypervisor beside it, and the pipe's variables to launch there."""

    name: str
    hooks: EmulatedCloud  # the emulated cloud itself (fakes/emulated.py)
    hypervisor: Hypervisor
    env: dict[str, str]
    ours: Callable[[], list[str]]  # ids of our instances that still exist (any state but gone/terminated)


@dataclass
class PipeRun:
    """A runner-mode pipe process whose output is collected as it comes."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start_reading(self) -> PipeRun:
        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.append(line)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        return self

    @property
    def output(self) -> str:
        return strip_ansi("".join(self.lines))

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the pipe never said {text!r}:\n{self.output}")
            time.sleep(0.2)


def launch_pipe(env: dict[str, str]) -> PipeRun:
    merged = pipe_env(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipe"], env=merged, cwd=merged["BITBUCKET_CLONE_DIR"], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return PipeRun(process).start_reading()


def _aws_ours(ec2: Any) -> Callable[[], list[str]]:
    def ours() -> list[str]:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": "tag:cml-managed-by", "Values": ["cml-runner-pipe"]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )
        return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]

    return ours


@pytest.fixture
def vm_cloud_factory(
    request: pytest.FixtureRequest, vm_images: Images, bitbucket: FakeBitbucket, bb_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[Callable[..., VmCloud]]:  # fmt: skip
    made: list[VmCloud] = []

    def make(name: str, *, variant: str = "docker") -> VmCloud:
        hooks: EmulatedCloud
        console_sink: Callable[[str, str], None] | None = None
        if name == "aws":
            ec2 = request.getfixturevalue("ec2")
            hooks, cloud_env, ours = FakeAws(ec2), request.getfixturevalue("aws_env"), _aws_ours(ec2)
            console_sink = request.getfixturevalue("aws_faults").consoles.__setitem__
        elif name == "gcp":
            gcp = request.getfixturevalue("fake_gcp")
            hooks, cloud_env, console_sink = gcp, request.getfixturevalue("gcp_env"), gcp.write_console

            def ours() -> list[str]:
                return [i["name"] for i in gcp.instances() if i.get("labels", {}).get("cml-managed-by")]
        else:
            azure = request.getfixturevalue("azure_fake")
            azure.retry_after = 1  # the pipe polls at the SDK's default interval: without it, 30 s per poll
            hooks, cloud_env = azure, azure.cloud_env()

            def ours() -> list[str]:
                return [g for g in azure.groups() if azure.group_tags(g).get("cml-managed-by")]

        hypervisor = Hypervisor(
            hooks, vm_images, tmp_path / f"vms-{name}", bitbucket.root_url, variant=variant, console_sink=console_sink
        )
        env = {
            **cloud_env, **bb_env, "CLOUD_REGION": "us-west", "CLOUD_TYPE": "m", "WAIT_TIMEOUT": "15min",
            "CML_RUNNER_POLL_SECONDS": "1", "AWS_MAX_ATTEMPTS": "1",
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared"),
        }  # fmt: skip
        cloud = VmCloud(name, hooks, hypervisor.start(), env, ours)
        made.append(cloud)
        return cloud

    yield make
    for cloud in made:
        left = cloud.hypervisor.running_vms()
        cloud.hypervisor.stop()
        assert left == [], f"VMs still running at the end of the test: {left}"
        assert cloud.hypervisor.errors == [], cloud.hypervisor.errors



@dataclass
class Launched:
    """A runner-mode launch that returned 0: its instance, the VM that booted it and the ONLINE runner."""

    instance_id: str
    vm: Vm
    runner: RunnerState
    run: PipeRun


def launch_online(
    cloud: VmCloud, bitbucket: FakeBitbucket, env: dict[str, str] | None = None, *, first_step_s: float | None = None
) -> Launched:
    """Run the pipe in runner mode on cloud and wait for it to return; assert it succeeded. With first_step_s,
    a step of that duration is queued as soon as the runner is registered: the runner's first step, taken
    when it signs in, however slow the boot (bitbucket.steps holds it)."""
    run = launch_pipe({**cloud.env, **(env or {})})
    if first_step_s is not None:
        deadline = time.monotonic() + 120
        while not bitbucket.repo().runners:
            assert time.monotonic() < deadline and run.process.poll() is None, run.output
            time.sleep(0.2)
        [registered] = list(bitbucket.repo().runners.values())
        bitbucket.queue_step(registered.uuid, duration_s=first_step_s, name="first")
    deadline = time.monotonic() + BOOT_TO_ONLINE_S
    while run.process.poll() is None:  # fail at once if the test bed cannot boot the VM
        assert not cloud.hypervisor.errors, f"{cloud.hypervisor.errors}\n{run.output}"
        assert time.monotonic() < deadline, f"the pipe did not return within {BOOT_TO_ONLINE_S} s\n{run.output}"
        time.sleep(1)
    code = run.wait(30)
    ids = cloud.ours()
    assert len(ids) == 1, f"instances of ours: {ids}\n{run.output}"
    vm = cloud.hypervisor.wait_booted(ids[0])
    assert code == 0, run.output + vm.tail()
    runners = list(bitbucket.repo().runners.values())
    assert len(runners) == 1 and runners[0].status == "ONLINE", run.output + vm.tail()
    return Launched(ids[0], vm, runners[0], run)


# Scenarios 1 and 5, checked on every cloud's launch (test_vm_launch.py; AWS's inside test_vm_idle.py, one boot
# fewer in CI): CLOUD_STARTUP_SCRIPT runs before Docker and the runner are touched.
USER_SCRIPT = 'echo "user-script: containers: $(docker ps -q 2>/dev/null | wc -l)" | tee /dev/console'
USER_SCRIPT_ENV = {"LABELS": "cml.vm", "CLOUD_STARTUP_SCRIPT": USER_SCRIPT}
BOOT_STEPS = ("prepare", "lifetime-fallback", "agent", "user-startup-script", "docker", "pull-runner-image",
              "start-runner")  # fmt: skip


def assert_booted_from_its_user_data(cloud: VmCloud, up: Launched) -> None:
    """A launch with USER_SCRIPT_ENV booted a real VM from exactly its user-data: every boot step on the console
    with its duration, the user's script first, and the runner stand-in started by systemd from the image the
    script found locally under Atlassian's image name."""
    vm = up.vm
    assert up.runner.oauth_presented == 1
    # The VM booted exactly the user-data the pipe gave the cloud, as the cloud stores it.
    assert (vm.workdir / "seed" / "user-data").read_bytes() == cloud.hooks.boot_payloads()[up.instance_id]
    vm.wait_for(r"cml-runner: boot done in \d+ ms", 60)
    console = vm.console()
    for step in BOOT_STEPS:
        assert f"cml-runner: step {step}: done in" in console, vm.tail()
    ran = console.index("user-script: containers: 0")  # no container yet: the runner starts after it
    assert console.index("cml-runner: step user-startup-script: start") < ran
    assert ran < console.index("cml-runner: step docker: start") < console.index("cml-runner: step start-runner: start")
    code, out = vm.run("docker ps --format '{{.Names}} {{.Image}}'; systemctl is-active cml-agent cml-runner")
    assert code == 0, out
    assert f"runner-{up.runner.uuid.strip('{}')} {DEFAULT_RUNNER_IMAGE}" in out, out
    assert out.split()[-2:] == ["active", "active"], out


def sweep_away(cloud: VmCloud, bitbucket: FakeBitbucket, up: Launched) -> None:
    """End a launch through the product: the runner is deleted, the sweep terminates its orphaned
    instance, and the hypervisor kills the VM with it; nothing of ours is left in the cloud."""
    with bitbucket.lock:
        del bitbucket.repo().runners[up.runner.uuid]
    sweep = run_pipe({**cloud.env, "COMMAND": "sweep"}, timeout=120)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert cloud.hypervisor.wait_ended(up.instance_id, 60) == "killed"
    assert cloud.ours() == []


def start_image_build_in_background() -> None:
    """When VM tests were collected and the images are not built: `python -m fakes.vm.image` in the
    background, so the other tests run meanwhile; the vm_images fixture waits on the build's lock. (With
    xdist each worker may start one: the second waits on the lock, finds the images built, and ends.)"""
    from fakes.vm.image import images_ready

    if images_ready():
        return
    log = Path(tempfile.gettempdir()) / "cml-runner-vm-images.log"
    subprocess.Popen(
        [sys.executable, "-m", "fakes.vm.image"], cwd=str(Path(__file__).parent), stdin=subprocess.DEVNULL,
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": f"{Path(__file__).parents[2]}:{Path(__file__).parent}"},
    )  # fmt: skip
    print(f"[vm images] building in the background; log: {log}", file=sys.stderr)

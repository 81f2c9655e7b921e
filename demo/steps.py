"""The demo's steps, one numbered phase each: the local Bitbucket with the example repository, the local
cloud, what plays the instance (the VM stand-in, the pod stand-in, or a real VM), runner mode, the training,
pr mode, then the read-back (demo/readback.py). Children run in their own sessions; stop_all() stops
everything the demo started, newest first, whatever fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.bitbucket import FakeBitbucket
from fakes.isolation import isolated_env
from pod_standin import PodStandIn
from vm_standin import VmStandIn

from demo.clouds import VM_CLOUD_NAMES, VM_ONLY_VARIABLES, LocalCloud, start_cloud
from demo.dvc import MADE as DVC_MADE
from demo.dvc import DvcStage
from demo.example import DVC_EXAMPLE, EXAMPLE, REPO_SLUG, WORKSPACE, example_files, read_example
from demo.output import plain, say
from demo.readback import render_report, show

DEMO_TOKEN = "demo-access-token-local-only"  # noqa: S105 - accepted by the local Bitbucket only
PHASES = 7
CHILD_STOP_S = 20.0  # how long a stopped pipe may take to roll back before it is killed


class DemoError(Exception):
    """A phase failed; str() says which and why."""


class Stopped(Exception):
    """SIGTERM or SIGHUP: stop like on Ctrl-C."""


@dataclass
class Demo:
    cloud_name: str
    workdir: Path
    state_out: Path | None = None
    bitbucket: FakeBitbucket | None = None
    cloud: LocalCloud | None = None
    real_vm: bool = False
    standin: VmStandIn | PodStandIn | None = None
    hypervisor: Any = None  # fakes.vm.hypervisor.Hypervisor with --vm
    dvc: DvcStage | None = None  # --dvc: examples/dvc with the real dvc and a local S3 (demo/dvc.py)
    children: list[subprocess.Popen[str]] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    _phase: int = 0

    # ----------------------------------------------------------------------------------------------- phases
    @contextlib.contextmanager
    def phase(self, title: str) -> Iterator[list[str]]:
        """One numbered line per phase; what the phase appends to `result` is printed with its time."""
        self._phase += 1
        say(f"[{self._phase}/{PHASES + (2 if self.dvc else 0)}] {title}")
        started = time.monotonic()
        result: list[str] = []
        yield result
        summary = "; ".join(result)
        say(f"      done in {time.monotonic() - started:.1f}s{': ' + summary if summary else ''}")

    def run(self) -> None:
        example_dir = DVC_EXAMPLE if self.dvc else EXAMPLE
        example = read_example(example_dir / "bitbucket-pipelines.yml")
        clone = self.workdir / "clone"

        with self.phase("Starting the local Bitbucket (real HTTP on 127.0.0.1) with the example repository") as r:
            fake = self.bitbucket = FakeBitbucket(seed=False).start()
            fake.add_token(DEMO_TOKEN)
            files = example_files(example_dir)
            repo = fake.add_repository(WORKSPACE, REPO_SLUG, files=files)
            head = repo.branches[repo.main_branch]
            r.append(f"{WORKSPACE}/{REPO_SLUG} at {fake.url}, main at {head[:12]} with {', '.join(files)}")

        region = example.runner_vars.get("CLOUD_REGION", "us-west")
        with self.phase(f"Starting the local {self.cloud_name.upper()}") as r:
            cloud = self.cloud = start_cloud(self.cloud_name, region)
            server_pid = _pid_of(cloud)
            if server_pid:
                self.pids["cloud server"] = server_pid
            r.append(cloud.title + (f" (pid {server_pid})" if server_pid else ""))

        token_url = f"{fake.root_url}/_fake/oauth2/token"
        if cloud.name == "kubernetes":
            with self.phase("Starting the pod stand-in: it plays the runner container of each new pod of ours") as r:
                from fakes.kubernetes import FakeKubernetes

                assert isinstance(cloud.fake, FakeKubernetes)
                self.standin = PodStandIn(cloud.fake, token_url, poll_s=0.2).start()
                r.append("it reads the runner container's environment, its OAuth credentials from the Job's Secret")
                r.append("and presents them to the local Bitbucket, which marks the runner ONLINE")
        elif self.real_vm:
            with self.phase("Starting the local hypervisor: a real VM (QEMU) boots each new instance of ours") as r:
                self.hypervisor = start_hypervisor(cloud, fake.root_url, self.workdir / "vms")
                r.append(f"images in {self.hypervisor.images.root}; consoles under {self.workdir / 'vms'}")
                r.append("the runner stand-in in the VM signs in to the local Bitbucket (ONLINE)")
        else:
            with self.phase("Starting the VM stand-in: it plays each new instance of ours") as r:
                (self.workdir / "vms").mkdir(parents=True, exist_ok=True)
                self.standin = VmStandIn(cloud.user_data, token_url, poll_s=0.2, _dir=str(self.workdir / "vms")).start()
                r.append("it runs the startup script in a sandbox (docker, systemctl... are recorded, not run)")
                r.append(
                    "the runner it starts presents its OAuth credentials to the local Bitbucket, which marks it ONLINE"
                )

        build = {
            **fake.pipeline_env(DEMO_TOKEN, WORKSPACE, REPO_SLUG),  # a step on main's head
            "BITBUCKET_BUILD_NUMBER": "1",
            "BITBUCKET_PIPELINE_UUID": "{" + str(uuid.uuid4()) + "}",
            "BITBUCKET_CLONE_DIR": str(clone),
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(self.workdir / "shared"),
            "CML_RUNNER_POLL_SECONDS": "0.5",
        }
        clone.mkdir(parents=True)
        for name, content in repo.commits[head].tree.items():  # the step's checkout of main
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes(content)

        runner_vars = dict(example.runner_vars)
        if cloud.name == "kubernetes":
            runner_vars = {k: v for k, v in runner_vars.items() if k not in VM_ONLY_VARIABLES}
        if cloud.name == "azure" and runner_vars.get("CLOUD_TYPE") == "m":
            # The example's train step is size 4x (20 GiB with the runner); Azure's m (Standard_F8s_v2) has 16 GiB
            # and runner mode refuses it (pipe/runner/step_size.py), so the demo asks Azure for l.
            runner_vars["CLOUD_TYPE"] = "l"
        shown = " ".join(f"{k}={v}" for k, v in {"CLOUD": self.cloud_name, **runner_vars}.items())
        with self.phase(f'Step 1 "{example.runner_step}": python -m pipe, runner mode ({shown})') as r:
            wait = "20min" if self.real_vm else "2min"  # a boot under QEMU's emulation takes minutes
            env = {**build, **cloud.env(), **runner_vars, "WAIT_TIMEOUT": wait}
            env["BITBUCKET_STEP_UUID"] = "{" + str(uuid.uuid4()) + "}"
            self.run_child("runner mode", [sys.executable, "-m", "pipe"], env, cwd=clone)
            runners = list(repo.runners.values())
            if not runners:
                raise DemoError("runner mode succeeded but the local Bitbucket has no runner")
            runner = runners[-1]
            r.append(f"runner {runner.name} is {runner.status}")

        if self.dvc:
            with self.phase("Preparing DVC: the dvc CLI, a local S3 (moto) with a bucket, the clone's remote") as r:
                r.append(self.dvc.start(clone, self.run_child))
                s3_pid = getattr(getattr(self.dvc.s3, "_process", None), "pid", None)
                if isinstance(s3_pid, int):
                    self.pids["local S3"] = s3_pid
        scripts = " && ".join("python " + " ".join(c) for c in example.python_commands)
        if self.dvc:
            scripts = " && ".join(" ".join(c) for c in example.dvc_commands)
        with self.phase(f'Step 2 "{example.train_step}" runs on the runner: {scripts}') as r:
            with fake.lock:
                fake.set_runner_busy(runner.uuid, {"uuid": "{" + str(uuid.uuid4()) + "}", "name": example.train_step})
            try:
                if self.dvc:
                    self.dvc.run(example.dvc_commands, clone, self.run_child)
                for command in example.python_commands:
                    self.run_child(command[0], [sys.executable, *command], {"MPLBACKEND": "Agg"}, cwd=clone)
            finally:
                with fake.lock:
                    fake.set_runner_idle(runner.uuid)
            seeds = ("model/random_forest.joblib", "model/confusion_matrix.png", "metrics.json", "report.md")
            made: tuple[str, ...] = DVC_MADE if self.dvc else seeds
            missing = [p for p in made if not (clone / p).is_file()]
            if missing:
                raise DemoError(f"the training did not write {', '.join(missing)}")
            r.append(f"in {clone} (run here, in a checkout of main, standing in for the runner)")

        pr_shown = " ".join(f"{k}={v}" for k, v in example.pr_vars.items() if not re.fullmatch(r"FILES_\d+", k))
        with self.phase(f"Step 2's pipe: python -m pipe ({pr_shown})") as r:
            env = {**build, **example.pr_vars, "BITBUCKET_STEP_UUID": "{" + str(uuid.uuid4()) + "}"}
            self.run_child("pr mode", [sys.executable, "-m", "pipe"], env, cwd=clone)
            if not repo.pulls:
                raise DemoError("pr mode succeeded but the local Bitbucket has no pull request")
            pr = list(repo.pulls.values())[-1]
            r.append(f"PR #{pr.id} from {pr.source_branch} into {pr.destination_branch}")

        if self.dvc:
            with self.phase("dvc pull in a checkout of the PR's branch (its files, from the local Bitbucket)") as r:
                with fake.lock:
                    tree = dict(repo.commits[repo.branches[pr.source_branch]].tree)
                try:
                    r.append(self.dvc.pull_back(tree, clone, self.workdir / "pr-checkout", self.run_child))
                except ValueError as err:
                    raise DemoError(str(err)) from None

        with self.phase("Reading back what was created, from the local servers") as r:
            html_path = render_report(self, pr.id)
            r.append(f"the report as it renders: {html_path}")
        show(self, runner.uuid, pr.id, html_path)

    # ----------------------------------------------------------------------------------------------- children
    def run_child(self, what: str, argv: list[str], env: Mapping[str, str], *, cwd: Path) -> None:
        """A child in its own session (so a Ctrl-C reaches only the demo, which stops it in order), its output
        shown indented and kept in logs/."""
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        full_env = isolated_env(self.workdir / "home")
        full_env.update(env)
        log_path = logs / f"{what.replace(' ', '-')}.log"
        proc = subprocess.Popen(
            argv,
            cwd=str(cwd),
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self.children.append(proc)
        self.pids[what] = proc.pid
        say(f"      {what} (pid {proc.pid}) says:")
        assert proc.stdout is not None
        with log_path.open("w", encoding="utf-8") as log:
            for line in proc.stdout:
                log.write(line)
                if line.strip():
                    say("      | " + plain(line.rstrip("\n")))
        code = proc.wait()
        self.children.remove(proc)
        if code != 0:
            raise DemoError(f"{what} failed (exit status {code}); its output is above and in {log_path}")

    def stop_children(self) -> None:
        """SIGTERM to each running child's process group (the pipe rolls back what it created), then SIGKILL."""
        for proc in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_STOP_S
        for proc in list(self.children):
            try:
                rest, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                rest, _ = proc.communicate()
            for line in (rest or "").splitlines():  # what it said while stopping (the pipe: its rollback)
                if line.strip():
                    say("      | " + plain(line))
            self.children.remove(proc)

    def stop_all(self) -> None:
        """Everything this demo started, newest first; each stop is attempted whatever the others do."""
        steps: list[tuple[str, Any]] = [("child processes", self.stop_children)]
        if self.standin is not None:
            steps.append(("VM stand-in", self.standin.stop))
        if self.hypervisor is not None:
            steps.append(("local hypervisor and its VMs", self.hypervisor.stop))
        if self.state_out is not None:
            steps.append(("state dump", self.dump_state))
        if self.cloud is not None:
            steps.append((f"local {self.cloud_name}", self.cloud.stop))
        if self.dvc is not None:
            steps.append(("local S3", self.dvc.stop))
        if self.bitbucket is not None:
            steps.append(("local Bitbucket", self.bitbucket.stop))
        for what, stop in steps:
            try:
                stop()
            except Exception as err:  # noqa: BLE001 - keep stopping the rest
                say(f"  (could not stop the {what}: {err})")

    def dump_state(self) -> None:
        if self.state_out is None:
            return
        state: dict[str, Any] = {"cloud": self.cloud_name, "workdir": str(self.workdir), "pids": self.pids}
        if self.bitbucket is not None:
            state["bitbucket"] = self.bitbucket.dump()
        if self.cloud is not None:
            state["cloud_state"] = self.cloud.state()
        self.state_out.parent.mkdir(parents=True, exist_ok=True)
        self.state_out.write_text(json.dumps(state, indent=2, default=str) + "\n", encoding="utf-8")
        say(f"State of the local servers written to {self.state_out}")


def start_hypervisor(cloud: LocalCloud, bitbucket_root_url: str, workdir: Path) -> Any:
    """The local hypervisor (test/support/fakes/vm) beside the local cloud: each new instance boots a real VM."""
    from fakes.vm.hypervisor import Hypervisor
    from fakes.vm.image import ensure_images

    if cloud.name not in VM_CLOUD_NAMES:
        raise DemoError(f"no real VMs for the local {cloud.name}")
    images = ensure_images(log=lambda line: say(f"      {line}"))
    return Hypervisor(cloud.fake, images, workdir, bitbucket_root_url).start()


def _pid_of(cloud: LocalCloud) -> int | None:
    process = getattr(getattr(cloud.fake, "moto", None), "_process", None)  # moto_server runs as a child
    pid = getattr(process, "pid", None)
    return pid if isinstance(pid, int) else None

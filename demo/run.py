"""The whole pipe on this machine, in one command: no cloud account, nothing leaves 127.0.0.1.

It plays the example pipeline of examples/seeds/bitbucket-pipelines.yml:

 1. a local Bitbucket with the example repository on main;
 2. a local cloud (moto's EC2 for aws, the local Compute Engine for gcp, the local Azure for azure, the
    local Kubernetes API for kubernetes);
 3. a stand-in for the cloud's VMs, which boots each new instance's real startup script in a sandbox
    (on kubernetes: for the pod's runner container, reading its credentials from the Job's Secret);
    the runner it starts signs in to the local Bitbucket with its OAuth credentials (ONLINE);
 4. step 1, runner mode: `python -m pipe` with the step's variables, until the runner is ONLINE;
 5. step 2, on the runner: the example's training (run here, in a checkout of main);
 6. step 2's pipe, pr mode: commits the model, opens a PR and posts the report on it;
 7. what a user would see, read back from the local servers, and the report as an HTML page.

Everything it started is stopped on exit, on failure and on Ctrl-C.

    python demo/run.py [--cloud aws|gcp|azure|kubernetes] [--vm] [--workdir DIR] [--state-out FILE]

--vm boots a real VM under QEMU for the instance (test/support/fakes/vm: Debian with Docker, cloud-init and the
runner stand-in; the first run builds the images, several minutes) instead of the sandboxed stand-in
(aws, gcp and azure: a Kubernetes runner is a pod, not a VM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import mimetypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "test" / "support", ROOT):  # the local servers live with the tests; the pipe at the root
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import yaml  # noqa: E402
from fakes.bitbucket import FakeBitbucket  # noqa: E402
from fakes.isolation import isolated_env  # noqa: E402
from pod_standin import PodBooted, PodStandIn  # noqa: E402
from vm_standin import VmStandIn  # noqa: E402

from demo.clouds import (  # noqa: E402
    CLOUD_NAMES,
    VM_ONLY_VARIABLES,
    InstanceView,
    LocalAws,
    LocalAzure,
    LocalCloud,
    LocalGcp,
    LocalKubernetes,
    start_cloud,
)
from pipe.report import preview  # noqa: E402

EXAMPLE = ROOT / "examples" / "seeds"
WORKSPACE, REPO_SLUG = "acme", "ml-seeds"
DEMO_TOKEN = "demo-access-token-local-only"  # noqa: S105 - accepted by the local Bitbucket only
PHASES = 7
CHILD_STOP_S = 20.0  # how long a stopped pipe may take to roll back before it is killed
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The report's links once the pipe has uploaded their targets: <web host>/<workspace>/<repo>/downloads/<name>.
_DOWNLOAD = re.compile(r"https?://[^\s)\"'<>]+?/downloads/([^/)\s\"'#?<>]+)")


class DemoError(Exception):
    """A phase failed; str() says which and why."""


class Stopped(Exception):
    """SIGTERM or SIGHUP: stop like on Ctrl-C."""


# --------------------------------------------------------------------------------------------------- the example


@dataclass(frozen=True)
class ExamplePipeline:
    """What the demo takes from the example's bitbucket-pipelines.yml: the two steps' pipe variables."""

    runner_step: str
    runner_vars: dict[str, str]
    train_step: str
    runs_on: list[str]
    pr_vars: dict[str, str]
    python_commands: list[list[str]]  # the training step's `python ...` lines, in order


def _pipe_vars(step: Mapping[str, Any]) -> dict[str, Any] | None:
    for item in step.get("script", []):
        if isinstance(item, dict) and "pipe" in item:
            return dict(item.get("variables") or {})
    return None


def read_example(path: Path) -> ExamplePipeline:
    """The runner step and the training step of the example's pipeline.

    Values that reference repository variables ($BITBUCKET_ACCESS_TOKEN, $AWS_OIDC_ROLE_ARN...) are left out:
    the demo gives its own local credentials instead. A list (FILES) becomes FILES_COUNT, FILES_0... as
    Bitbucket passes it to a pipe.
    """
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    pipelines = doc["pipelines"]
    steps_list = pipelines.get("default") or next(iter(pipelines.get("branches", {}).values()))
    steps = [s["step"] for s in steps_list if isinstance(s, dict) and "step" in s]
    runner = next(s for s in steps if (_pipe_vars(s) or {}).get("COMMAND", "runner") == "runner")
    train = next(s for s in steps if s.get("runs-on"))

    def plain(variables: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in variables.items():
            if isinstance(value, list):
                out[f"{name}_COUNT"] = str(len(value))
                out.update({f"{name}_{i}": str(v) for i, v in enumerate(value)})
            elif not str(value).startswith("$"):
                out[name] = str(value)
        return out

    return ExamplePipeline(
        runner_step=str(runner.get("name", "runner")),
        runner_vars={k: v for k, v in plain(_pipe_vars(runner) or {}).items() if k != "CLOUD"},
        train_step=str(train.get("name", "train")),
        runs_on=[str(label) for label in train["runs-on"]],
        pr_vars=plain(_pipe_vars(train) or {}),
        python_commands=[
            line.split()[1:] for line in train.get("script", []) if isinstance(line, str) and line.startswith("python ")
        ],
    )


def example_files() -> dict[str, bytes]:
    """The example repository as it is committed: its sources, not outputs of a local training run."""
    skip = {"model", "data", "metrics.json", "report.md", "__pycache__", ".venv"}
    return {
        p.relative_to(EXAMPLE).as_posix(): p.read_bytes()
        for p in sorted(EXAMPLE.rglob("*"))
        if p.is_file() and not (set(p.relative_to(EXAMPLE).parts) & skip)
    }


# --------------------------------------------------------------------------------------------------- output


def _out(line: str = "") -> None:
    print(line, flush=True)


def _plain(text: str) -> str:
    return text if sys.stdout.isatty() else _ANSI.sub("", text)


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
    children: list[subprocess.Popen[str]] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)
    _phase: int = 0

    # ----------------------------------------------------------------------------------------------- phases
    @contextlib.contextmanager
    def phase(self, title: str) -> Iterator[list[str]]:
        """One numbered line per phase; what the phase appends to `result` is printed with its time."""
        self._phase += 1
        _out(f"[{self._phase}/{PHASES}] {title}")
        started = time.monotonic()
        result: list[str] = []
        yield result
        summary = "; ".join(result)
        _out(f"      done in {time.monotonic() - started:.1f}s{': ' + summary if summary else ''}")

    def run(self) -> None:
        example = read_example(EXAMPLE / "bitbucket-pipelines.yml")
        clone = self.workdir / "clone"

        with self.phase("Starting the local Bitbucket (real HTTP on 127.0.0.1) with the example repository") as r:
            fake = self.bitbucket = FakeBitbucket(seed=False).start()
            fake.add_token(DEMO_TOKEN)
            files = example_files()
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
        if isinstance(cloud, LocalKubernetes):
            with self.phase("Starting the pod stand-in: it plays the runner container of each new pod of ours") as r:
                self.standin = PodStandIn(cloud.server, token_url, poll_s=0.2).start()
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
        if isinstance(cloud, LocalKubernetes):
            runner_vars = {k: v for k, v in runner_vars.items() if k not in VM_ONLY_VARIABLES}
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

        scripts = " && ".join("python " + " ".join(c) for c in example.python_commands)
        with self.phase(f'Step 2 "{example.train_step}" runs on the runner: {scripts}') as r:
            with fake.lock:
                fake.set_runner_busy(runner.uuid, {"uuid": "{" + str(uuid.uuid4()) + "}", "name": example.train_step})
            try:
                for command in example.python_commands:
                    self.run_child(command[0], [sys.executable, *command], {"MPLBACKEND": "Agg"}, cwd=clone)
            finally:
                with fake.lock:
                    fake.set_runner_idle(runner.uuid)
            made = ("model/random_forest.joblib", "model/confusion_matrix.png", "metrics.json", "report.md")
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

        with self.phase("Reading back what was created, from the local servers") as r:
            html_path = self.render_report(pr.id)
            r.append(f"the report as it renders: {html_path}")
        self.show(runner.uuid, pr.id, html_path)

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
        _out(f"      {what} (pid {proc.pid}) says:")
        assert proc.stdout is not None
        with log_path.open("w", encoding="utf-8") as log:
            for line in proc.stdout:
                log.write(line)
                if line.strip():
                    _out("      | " + _plain(line.rstrip("\n")))
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
                    _out("      | " + _plain(line))
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
        if self.bitbucket is not None:
            steps.append(("local Bitbucket", self.bitbucket.stop))
        for what, stop in steps:
            try:
                stop()
            except Exception as err:  # noqa: BLE001 - keep stopping the rest
                _out(f"  (could not stop the {what}: {err})")

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
        _out(f"State of the local servers written to {self.state_out}")

    # ----------------------------------------------------------------------------------------------- results
    def render_report(self, pr_id: int) -> Path:
        """The PR's report comment as Bitbucket would render it, images inlined from the local Downloads."""
        assert self.bitbucket is not None
        repo = self.bitbucket.repo(WORKSPACE, REPO_SLUG)
        with self.bitbucket.lock:
            comments = [c for c in repo.comments.values() if c.pr_id == pr_id]
            if not comments:
                raise DemoError(f"no report comment on PR #{pr_id}")
            raw = comments[-1].raw
            images: dict[str, tuple[bytes, str]] = {}
            for match in _DOWNLOAD.finditer(raw):
                stored = repo.downloads.get(match.group(1))
                if stored is not None:
                    mime = mimetypes.guess_type(match.group(1))[0] or "application/octet-stream"
                    images[match.group(0)] = (stored.content, mime)
        html_path = self.workdir / "report.html"
        html_path.write_text(preview.render(raw, images, title=f"PR #{pr_id}: training report"), encoding="utf-8")
        return html_path

    def show(self, runner_uuid: str, pr_id: int, html_path: Path) -> None:
        assert self.bitbucket is not None and self.cloud is not None
        fake, cloud = self.bitbucket, self.cloud
        repo = fake.repo(WORKSPACE, REPO_SLUG)
        base = fake.root_url

        _out()
        _out("=" * 100)
        _out("What a user would see (read back from the local servers)")
        _out("=" * 100)

        instances: list[InstanceView] = cloud.instances()
        with fake.lock:
            runner = fake.runner(runner_uuid)
            uuid_tag = runner.uuid.strip("{}")
        mine = [i for i in instances if i.tags.get("cml-runner-uuid") == uuid_tag] or instances
        _section(f"The instance ({self.cloud_name.upper()} console, from the local cloud's API)")
        for inst in mine:
            _out(f"  instance: {inst.id}")
            _out(f"  type: {inst.type}   zone: {inst.zone}   state: {inst.status}")
            _out("  labels:" if self.cloud_name == "gcp" else "  tags:")
            for key, value in sorted(inst.tags.items()):
                _out(f"    {key} = {value}")

        _section("The runner (Repository settings > Runners)")
        with fake.lock:
            _out(f"  runner: {runner.name} {runner.uuid}")
            _out(f"  status: {runner.status}")
            _out(f"  labels: {', '.join(runner.labels)}")
            booted = self.standin.booted if self.standin is not None else {}
            for inst in mine:
                started = booted.get(inst.id)
                if isinstance(started, PodBooted):
                    _out(f"  started by: the runner container of Job {inst.id}'s pod (credentials from its Secret)")
                elif started is not None:
                    _out(f"  started by: the startup script of {inst.id} (exit status {started.returncode})")
            vms = self.hypervisor.vms if self.hypervisor is not None else {}
            for inst in mine:
                if inst.id in vms:
                    console = vms[inst.id].console_path
                    _out(f"  started by: the startup script of {inst.id} in a real VM; console {console}")
                    for line in vms[inst.id].console().splitlines():
                        if "cml-runner: step" in line or "cml-runner: boot done" in line:
                            _out("  | " + line.split("cml-runner: ", 1)[1])

            pr = repo.pulls[pr_id]
            commit_hash = pr.source_commit(repo)
            commit = repo.commits[commit_hash]
            parent = repo.commits[commit.parents[0]].tree if commit.parents else {}
            changed = sorted(p for p, data in commit.tree.items() if parent.get(p) != data)
            comments = [c for c in repo.comments.values() if c.pr_id == pr_id]
            reports = [(k, v) for k, v in repo.reports.items() if k[0] == commit_hash]

        _section("The pull request")
        _out(f"  pull request: #{pr.id} {pr.title!r} ({pr.state})")
        _out(f"  branch: {pr.source_branch} -> {pr.destination_branch}")
        _out(f"  url: {base}/{repo.full_name}/pull-requests/{pr.id}")
        _out(f"  commit: {commit_hash[:12]} {commit.message.splitlines()[0]!r} by {commit.author}")
        _out(f"  files in the commit: {', '.join(changed)}")

        _section("The report comment on the pull request")
        for comment in comments:
            _out(f"  comment: {comment.id}")
            _out(f"  url: {base}/{repo.full_name}/pull-requests/{pr.id}#comment-{comment.id}")
            # Without the pipe's invisible marker line (a markdown link definition: it does not render).
            lines = [line for line in comment.raw.splitlines() if line.strip() and not line.startswith("[cml-runner-")]
            for line in lines[:14]:
                _out(f"  | {line[:120]}")
            if len(lines) > 14:
                _out(f"  | ... ({len(lines) - 14} more lines)")

        _section(f"Code Insights on commit {commit_hash[:12]} (the pull request's commit)")
        for (_, report_id), body in reports:
            _out(f"  report: {report_id}")
            _out(f"  title: {body.get('title', '')}   result: {body.get('result') or 'none'}")
            for item in body.get("data") or []:
                _out(f"    {item.get('title')}: {item.get('value')}")

        _section("The report as it renders on the pull request")
        _out(f"  html: {html_path}")
        _out(f"  (open it in a browser; the outputs of this run are in {self.workdir})")
        _out()


def _section(title: str) -> None:
    _out()
    _out(f"--- {title} " + "-" * max(0, 96 - len(title)))


def start_hypervisor(cloud: LocalCloud, bitbucket_root_url: str, workdir: Path) -> Any:
    """The local hypervisor (test/support/fakes/vm) beside the local cloud: each new instance boots a real VM."""
    from fakes.vm.clouds import AwsHooks, AzureHooks, CloudHooks, GcpHooks
    from fakes.vm.hypervisor import Hypervisor
    from fakes.vm.image import ensure_images

    images = ensure_images(log=lambda line: _out(f"      {line}"))
    hooks: CloudHooks
    if isinstance(cloud, LocalAws):
        hooks = AwsHooks(cloud.ec2)
    elif isinstance(cloud, LocalGcp):
        hooks = GcpHooks(cloud.server)
    elif isinstance(cloud, LocalAzure):
        hooks = AzureHooks(cloud.server)
    else:
        raise DemoError(f"no real VMs for the local {cloud.name}")
    return Hypervisor(hooks, images, workdir, bitbucket_root_url).start()


def _pid_of(cloud: LocalCloud) -> int | None:
    process = getattr(getattr(cloud, "server", None), "_process", None)
    pid = getattr(process, "pid", None)
    return pid if isinstance(pid, int) else None


# --------------------------------------------------------------------------------------------------- main


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def prepare_workdir(requested: str | None) -> Path:
    if not requested:
        return Path(tempfile.mkdtemp(prefix="cml-runner-demo-"))
    workdir = Path(requested).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("clone", "shared", "home", "vms", "logs"):  # a previous run's outputs
        shutil.rmtree(workdir / name, ignore_errors=True)
    (workdir / "report.html").unlink(missing_ok=True)
    return workdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python demo/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cloud", choices=CLOUD_NAMES, default="aws", help="the cloud to emulate (default aws)")
    parser.add_argument("--vm", action="store_true", help="boot a real VM under QEMU instead of the sandbox")
    parser.add_argument("--workdir", help="where to put the outputs (default: a new temporary directory)")
    parser.add_argument("--state-out", type=Path, help="write the local servers' final state here (JSON)")
    args = parser.parse_args(argv)
    if args.vm and args.cloud == "kubernetes":
        parser.error("--vm boots VMs for aws, gcp and azure; a kubernetes runner is a pod")

    workdir = prepare_workdir(args.workdir)
    demo = Demo(args.cloud, workdir, args.state_out.resolve() if args.state_out else None, real_vm=args.vm)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stopped)
    started = time.monotonic()
    _out("CML Runner demo: the example pipeline of examples/seeds, with a local Bitbucket and a local cloud.")
    _out(f"No cloud account is used and nothing leaves 127.0.0.1. Outputs: {workdir}")
    _out()
    status = 0
    try:
        demo.run()
    except (KeyboardInterrupt, Stopped) as stop:
        reason = "Ctrl-C" if isinstance(stop, KeyboardInterrupt) else str(stop)
        _out(f"\nInterrupted ({reason}): stopping everything the demo started...")
        status = 130
    except DemoError as err:
        _out(f"\nDemo failed: {err}")
        status = 1
    finally:
        # A second Ctrl-C must not leave servers behind: stopping is bounded (CHILD_STOP_S) and not interruptible.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        demo.stop_all()
    if status == 0:
        _out(f"Demo finished in {time.monotonic() - started:.1f}s; the local servers are stopped.")
    else:
        _out("Stopped: the local servers, the VM stand-in and every child process.")
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Boot path measured on a real booted VM (test/support/fakes/vm): the pipe launches on the local AWS (moto), the
local hypervisor boots the instance's user-data in QEMU, and the milestones are read from the VM's serial
console (guest uptime stamps) and from the local Bitbucket (the ONLINE moment).

MEASURED UNDER TCG EMULATION (no KVM here): an upper bound of what the script's own steps take on a real
cloud's hardware, not a cloud figure. The instance's own boot before the user-data (firmware, kernel,
cloud-init stages) is Debian's here and is not a cloud figure either: pipe/bootstrap/steps.py keeps a cited
figure per cloud for it. Two images: "stock" (Docker and the runner image present: the fast path) and
"no Docker" (the script installs docker.io from Debian's archive; the runner stand-in is then loaded by
the image's test plumbing where a real instance would pull Atlassian's image).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import PipeProcess, Servers, wait_for
from bench.table import Row

UD_START = re.compile(r"^\[\s*([\d.]+)\] cloud-init\[\d+\]: cml-runner: boot script for", re.M)
STEP_DONE = re.compile(r"^\[\s*([\d.]+)\] cloud-init\[\d+\]: cml-runner: step ([\w-]+): done in (\d+) ms", re.M)
IMPORTED = re.compile(r"cml-test: runner stand-in image .* imported in (\d+) ms")
VARIANTS = {"docker": "stock image", "nodocker": "image without Docker"}
MARK = "measured under TCG emulation"


@dataclass
class BootRun:
    variant: str
    ok: bool
    user_data_s: float = 0.0  # guest uptime when the user-data started
    docker_ready_s: float = 0.0  # guest uptime when the docker step was done
    runner_started_s: float = 0.0  # guest uptime when the start-runner step was done
    signed_in_s: float = 0.0  # host seconds from QEMU's start to the runner's sign-in (ONLINE in Bitbucket)
    online_s: float = 0.0  # host seconds from QEMU's start to the pipe returning (it saw the runner ONLINE)
    steps_ms: dict[str, int] = field(default_factory=dict)
    runner_image_import_ms: int = 0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_console(run: BootRun, console: str) -> None:
    start = UD_START.search(console)
    steps = {m.group(2): (float(m.group(1)), int(m.group(3))) for m in STEP_DONE.finditer(console)}
    if start is None or "docker" not in steps or "start-runner" not in steps:
        raise ValueError("the console lacks the boot script's milestones")
    run.user_data_s = float(start.group(1))
    run.docker_ready_s = steps["docker"][0]
    run.runner_started_s = steps["start-runner"][0]
    run.steps_ms = {name: ms for name, (_, ms) in steps.items()}
    imported = IMPORTED.search(console)
    run.runner_image_import_ms = int(imported.group(1)) if imported else 0


def measure_one(servers: Servers, variant: str, workdir: Path) -> BootRun:
    from fakes.vm.hypervisor import Hypervisor
    from fakes.vm.image import ensure_images

    images = ensure_images(log=lambda line: print(f"[vm images] {line}", flush=True))
    run = BootRun(variant, ok=False)
    aws = servers.clouds()["aws"]
    with Hypervisor(aws, images, workdir / variant, servers.bitbucket.root_url, variant=variant) as hv:
        pipe = PipeProcess(servers.runner_env("aws", workdir, CLOUD_TYPE="m", WAIT_TIMEOUT="15min"))
        code = pipe.join(1200)
        vm = hv.wait_booted(timeout=5) if hv.vms else None
        if code != 0 or vm is None or not servers.bitbucket.online_at:
            run.error = f"launch failed (exit {code}): {pipe.output[-500:]}" + (vm.tail(20) if vm else "")
            return run
        run.signed_in_s = servers.bitbucket.online_at[0] - vm.started_at
        run.online_s = (pipe.ended_at or time.time()) - vm.started_at
        try:
            wait_for(lambda: "boot done in" in vm.console(), 120, every_s=0.5)
            parse_console(run, vm.console())
            run.ok = True
        except ValueError as e:
            run.error = str(e) + vm.tail(20)
    return run


def measure(servers: Servers, variants: tuple[str, ...] = tuple(VARIANTS)) -> list[BootRun]:
    runs = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-vm-"))
    try:
        for variant in variants:
            servers.reset()
            started = time.monotonic()
            runs.append(measure_one(servers, variant, workdir))
            print(f"[bench] VM boot ({VARIANTS[variant]}) measured in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return runs


def rows(runs: list[BootRun]) -> list[Row]:
    out = []
    for run in runs:
        figure = f"Boot path on a real VM, {VARIANTS[run.variant]} ({MARK})"
        if not run.ok:
            out.append(Row(figure, "failed: " + run.error.splitlines()[0], "-", None, run.as_json()))
            continue
        measured = (
            f"kernel 0 -> user-data {run.user_data_s:.0f} s -> Docker ready {run.docker_ready_s:.0f} s -> "
            f"runner container started {run.runner_started_s:.0f} s -> ONLINE {run.signed_in_s:.0f} s, "
            f"seen by the pipe {run.online_s:.0f} s"
        )
        script = run.runner_started_s - run.user_data_s
        measured += f" (script {script:.0f} s: " + ", ".join(f"{k} {v / 1000:.1f}" for k, v in run.steps_ms.items())
        imported = run.runner_image_import_ms / 1000
        measured += f"; runner image import {imported:.1f} s)" if imported else ")"
        out.append(Row(figure, measured, "- (upper bound of the script's steps)", None, run.as_json()))
    return out

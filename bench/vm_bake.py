"""Stock against baked, launch -> ONLINE on real booted VMs in one run (issue 17): on the local AWS (moto) with the
local hypervisor (test/support/fakes/vm) booting every instance from the image without Docker, the pipe's
COMMAND: bake makes a baked image (its guest installs docker.io, the runner stand-in arrives as a pull would,
the guest cleans up and powers off, and the hypervisor copies the stopped VM's disk into the image). Then, one VM
at a time, the same runner-mode launch twice: CLOUD_IMAGE: stock (installs Docker, gets the runner image) and
CLOUD_IMAGE unset (finds the baked image by its recipe and boots from the baked disk).

launch -> ONLINE: from spawning the pipe to the runner's sign-in at the local Bitbucket (the moment it is ONLINE),
both read by this process's clock; QEMU's start -> ONLINE beside it. The install and pull steps are the console's
`docker` (installs Docker when missing; on the stock image the runner stand-in's import happens inside it, where
a cloud would pull) and `pull-runner-image` steps. MEASURED UNDER TCG EMULATION: both launches pay the same
emulation, so the ratio is the figure; the seconds are not a cloud's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from bench.servers import PipeProcess, Servers, wait_for
from bench.table import Row
from bench.vm_boot import IMPORTED, MARK, STEP_DONE

if TYPE_CHECKING:
    from fakes.aws import FakeAws
    from fakes.vm.hypervisor import Hypervisor

GOAL_RATIO = 0.5  # issue 17: the baked launch -> ONLINE at most half the stock one, under the same emulation
FAST_PATH_LINE = "cml-runner: baked image: nothing to install or pull"
INSTALLING = "docker not found: installing"
BAKE_TIMEOUT_S = 2400
LAUNCH_TIMEOUT_S = 1200


@dataclass
class Launch:
    kind: str  # 'stock' | 'baked'
    ok: bool = False
    image: str = ""
    launch_to_online_s: float = 0.0  # pipe spawned -> the runner signed in (ONLINE)
    qemu_to_online_s: float = 0.0  # QEMU started -> the runner signed in
    install_ms: int = 0  # the console's docker step (and gpu, were there one)
    pull_ms: int = 0  # the console's pull-runner-image step
    runner_image_import_ms: int = 0  # the stand-in's import, inside the docker step, where a cloud pulls
    installed: bool = False  # the console says Docker was installed
    fast_path: bool = False  # the console says "baked image: nothing to install or pull"
    load_1m: float = 0.0  # the machine's load average when the launch started
    error: str = ""


@dataclass
class Comparison:
    bake_s: float = 0.0  # the bake, spawn to exit (informational)
    image: str = ""
    launches: list[Launch] = field(default_factory=list)
    error: str = ""

    def launch(self, kind: str) -> Launch | None:
        return next((one for one in self.launches if one.kind == kind and one.ok), None)

    @property
    def ratio(self) -> float | None:
        stock, baked = self.launch("stock"), self.launch("baked")
        if stock is None or baked is None or stock.launch_to_online_s <= 0:
            return None
        return baked.launch_to_online_s / stock.launch_to_online_s

    def as_json(self) -> dict[str, Any]:
        return {"bake_s": self.bake_s, "image": self.image, "error": self.error, "ratio": self.ratio,
                "launches": [dict(one.__dict__) for one in self.launches]}  # fmt: skip


def read_console(launch: Launch, console: str) -> None:
    steps = {m.group(2): int(m.group(3)) for m in STEP_DONE.finditer(console)}
    if "docker" not in steps or "pull-runner-image" not in steps:
        raise ValueError("the console lacks the docker and pull-runner-image steps")
    launch.install_ms = steps["docker"] + steps.get("gpu", 0)
    launch.pull_ms = steps["pull-runner-image"]
    imported = IMPORTED.search(console)
    launch.runner_image_import_ms = int(imported.group(1)) if imported else 0
    launch.installed = INSTALLING in console
    launch.fast_path = FAST_PATH_LINE in console


def launch_one(servers: Servers, aws: FakeAws, hv: Hypervisor, workdir: Path, kind: str, **extra: str) -> Launch:
    """One runner-mode launch to ONLINE; then its instance is terminated (its VM killed): one VM at a time."""
    launch = Launch(kind, load_1m=round(os.getloadavg()[0], 2))
    with servers.bitbucket.lock:  # the previous launch's runner is gone: this launch must make its own
        servers.bitbucket.repo().runners.clear()
    servers.bitbucket.online_at.clear()
    before = set(hv.vms)
    env = servers.runner_env("aws", workdir, CLOUD_TYPE="m", WAIT_TIMEOUT="15min", IDLE_TIMEOUT="30min", **extra)
    pipe = PipeProcess(env)
    code = pipe.join(LAUNCH_TIMEOUT_S)
    new = [iid for iid in list(hv.vms) if iid not in before]
    vm = hv.vms[new[0]] if new else None
    try:
        if code != 0 or vm is None or not servers.bitbucket.online_at:
            launch.error = f"{kind} launch failed (exit {code}): {pipe.output[-500:]}" + (vm.tail(20) if vm else "")
            return launch
        launch.image = aws.launched_from(new).get(new[0], "")
        launch.launch_to_online_s = servers.bitbucket.online_at[0] - pipe.started_at
        launch.qemu_to_online_s = servers.bitbucket.online_at[0] - vm.started_at
        wait_for(lambda: "boot done in" in vm.console(), 120, every_s=0.5)
        read_console(launch, vm.console())
        launch.ok = True
    except ValueError as e:
        launch.error = str(e) + (vm.tail(20) if vm else "")
    finally:
        for iid in new:
            with contextlib.suppress(Exception):
                aws.ec2.terminate_instances(InstanceIds=[iid])
            with contextlib.suppress(Exception):
                hv.wait_ended(iid, 120)
    return launch


def measure(servers: Servers) -> Comparison:
    from fakes.vm.hypervisor import Hypervisor
    from fakes.vm.image import ensure_images

    images = ensure_images(log=lambda line: print(f"[vm images] {line}", flush=True))
    result = Comparison()
    workdir = Path(tempfile.mkdtemp(prefix="bench-vm-bake-"))
    servers.reset()
    aws = cast("FakeAws", servers.clouds()["aws"])
    try:
        with Hypervisor(aws, images, workdir / "vms", servers.bitbucket.root_url, variant="nodocker") as hv:
            bake = PipeProcess(
                servers.runner_env("aws", workdir, COMMAND="bake", CLOUD_TYPE="m", CML_RUNNER_POLL_SECONDS="1")
            )
            code = bake.join(BAKE_TIMEOUT_S)
            result.bake_s = (bake.ended_at or time.time()) - bake.started_at
            found = re.search(r"Baked image (ami-\w+)", bake.output)
            if code != 0 or found is None:
                tail = next(iter(hv.vms.values())).tail(20) if hv.vms else ""
                result.error = f"bake failed (exit {code}): {bake.output[-500:]}{tail}"
                return result
            result.image = found.group(1)
            hv.wait_image(result.image, 900)  # as a cloud's image: usable once its disk is copied
            print(f"[bench] baked {result.image} in {result.bake_s:.0f} s", flush=True)
            for kind, extra in (("stock", {"CLOUD_IMAGE": "stock"}), ("baked", {})):
                started = time.monotonic()
                result.launches.append(launch_one(servers, aws, hv, workdir, kind, **extra))
                print(f"[bench] {kind} launch measured in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _steps(one: Launch) -> str:
    text = f"install {one.install_ms / 1000:.1f} s, pull {one.pull_ms / 1000:.1f} s"
    if one.runner_image_import_ms:
        text += f" (runner image import {one.runner_image_import_ms / 1000:.1f} s inside install)"
    return text


def rows(result: Comparison) -> list[Row]:
    figure = f"Boot path on a real VM, stock vs baked launch -> ONLINE ({MARK})"
    if result.error:
        return [Row(figure, "failed: " + result.error.splitlines()[0], f"<= {GOAL_RATIO}", False, result.as_json())]
    stock, baked, ratio = result.launch("stock"), result.launch("baked"), result.ratio
    if stock is None or baked is None or ratio is None:
        errors = "; ".join(one.error.splitlines()[0] for one in result.launches if one.error)
        return [Row(figure, "failed: " + (errors or "no launch"), f"<= {GOAL_RATIO}", False, result.as_json())]
    measured = (
        f"stock {stock.launch_to_online_s:.0f} s (QEMU -> ONLINE {stock.qemu_to_online_s:.0f} s; {_steps(stock)}; "
        f"load {stock.load_1m}), baked {baked.launch_to_online_s:.0f} s (QEMU -> ONLINE {baked.qemu_to_online_s:.0f}"
        f" s; {_steps(baked)}; load {baked.load_1m}): ratio {ratio:.2f}; bake {result.bake_s:.0f} s"
    )
    steps_figure = "Boot path on a real VM, baked: the console says nothing to install or pull, and installs nothing"
    skipped = baked.fast_path and not baked.installed and not baked.runner_image_import_ms
    said = (
        f"fast-path line: {baked.fast_path}, Docker installed: {baked.installed}, runner image imported: "
        f"{bool(baked.runner_image_import_ms)}"
    )
    return [
        Row(figure, measured, f"baked / stock <= {GOAL_RATIO}", ratio <= GOAL_RATIO, result.as_json()),
        Row(steps_figure, said, "True, False, False", skipped),
    ]

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

The phases are demo/steps.py, the read-back of step 7 demo/readback.py; the example pipeline is read by
demo/example.py and the local clouds start in demo/clouds.py (the one emulated-cloud interface).

    python demo/run.py [--cloud aws|gcp|azure|kubernetes] [--vm] [--dvc] [--workdir DIR] [--state-out FILE]

--dvc plays examples/dvc instead: the training step runs the real `dvc repro` and `dvc push` to a local S3
(moto), PR mode commits dvc.lock and the metrics, not the model, and `dvc pull` in a checkout of the PR's
branch gets the model back byte for byte (demo/dvc.py; the first run installs dvc into .venv-dvc, minutes).

--vm boots a real VM under QEMU for the instance (test/support/fakes/vm: Debian with Docker, cloud-init and the
runner stand-in; the first run builds the images, several minutes) instead of the sandboxed stand-in
(aws, gcp and azure: a Kubernetes runner is a pod, not a VM).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "test" / "support", ROOT):  # the local servers live with the tests; the pipe at the root
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from demo.clouds import CLOUD_NAMES  # noqa: E402
from demo.dvc import DvcStage  # noqa: E402
from demo.output import say  # noqa: E402
from demo.readback import ReadBackError  # noqa: E402
from demo.steps import Demo, DemoError, Stopped  # noqa: E402


def _raise_stopped(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def prepare_workdir(requested: str | None) -> Path:
    if not requested:
        return Path(tempfile.mkdtemp(prefix="cml-runner-demo-"))
    workdir = Path(requested).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("clone", "shared", "home", "vms", "logs"):  # a previous run's outputs
        shutil.rmtree(workdir / name, ignore_errors=True)
    shutil.rmtree(workdir / "pr-checkout", ignore_errors=True)
    (workdir / "report.html").unlink(missing_ok=True)
    return workdir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python demo/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cloud", choices=CLOUD_NAMES, default="aws", help="the cloud to emulate (default aws)")
    parser.add_argument("--vm", action="store_true", help="boot a real VM under QEMU instead of the sandbox")
    parser.add_argument("--dvc", action="store_true", help="play examples/dvc with the real dvc and a local S3")
    parser.add_argument("--workdir", help="where to put the outputs (default: a new temporary directory)")
    parser.add_argument("--state-out", type=Path, help="write the local servers' final state here (JSON)")
    parser.add_argument("--spot", action="store_true", help="a spot interruption and the resumed training (AWS)")
    args = parser.parse_args(argv)
    if args.spot:
        return _spot(prepare_workdir(args.workdir))
    if args.vm and args.cloud == "kubernetes":
        parser.error("--vm boots VMs for aws, gcp and azure; a kubernetes runner is a pod")

    workdir = prepare_workdir(args.workdir)
    demo = Demo(args.cloud, workdir, args.state_out.resolve() if args.state_out else None, real_vm=args.vm)
    demo.dvc = DvcStage() if args.dvc else None
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stopped)
    # Ctrl-C stops the demo even when its parent left SIGINT ignored (a background job, a pytest-xdist worker),
    # which Python would otherwise keep ignoring.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    example = "examples/dvc" if args.dvc else "examples/seeds"
    say(f"CML Runner demo: the example pipeline of {example}, with a local Bitbucket and a local cloud.")
    say(f"No cloud account is used and nothing leaves 127.0.0.1. Outputs: {workdir}")
    say()
    status = 0
    try:
        demo.run()
    except (KeyboardInterrupt, Stopped) as stop:
        reason = "Ctrl-C" if isinstance(stop, KeyboardInterrupt) else str(stop)
        say(f"\nInterrupted ({reason}): stopping everything the demo started...")
        status = 130
    except (DemoError, ReadBackError) as err:
        say(f"\nDemo failed: {err}")
        status = 1
    finally:
        # A second Ctrl-C must not leave servers behind: stopping is bounded (CHILD_STOP_S) and not interruptible.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        demo.stop_all()
    if status == 0:
        say(f"Demo finished in {time.monotonic() - started:.1f}s; the local servers are stopped.")
    else:
        say("Stopped: the local servers, the VM stand-in and every child process.")
    return status


def _spot(workdir: Path) -> int:
    """demo/spot.py: the seeds example's spot version through an interruption (its docstring says what)."""
    from demo.spot import run_spot

    started = time.monotonic()
    say("CML Runner demo, spot recovery: an interruption mid-training and the resumed run, all on 127.0.0.1.")
    try:
        run_spot(workdir)
    except (RuntimeError, OSError) as err:
        say(f"\nDemo failed: {err}")
        return 1
    say(f"Demo finished in {time.monotonic() - started:.1f}s; the local servers are stopped. Outputs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks: the pipe side by side with its baselines, on this machine, against the local servers.

    python bench/run.py [--quick] [--fresh] [--vm] [--json out.json]

Prints one table: Figure | Measured | Goal | Met?. Under 5 minutes (with the image copy cached;
--fresh rebuilds it, about a minute more); --quick takes fewer samples and runs under a minute.
What each figure means: bench/README.md. Goals are checked here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
for entry in (str(REPO_ROOT / "test" / "support"), str(REPO_ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from bench import boot, idle, modes, online, overhead, scale, vm_bake, vm_boot, weight  # noqa: E402
from bench.servers import CLOUDS, Servers  # noqa: E402
from bench.table import Row, ordered, render  # noqa: E402


def _progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_start": round(load[0], 2),
    }


def run_vm_only() -> list[Row]:
    servers = Servers.start()
    try:
        return vm_boot.rows(vm_boot.measure(servers)) + vm_bake.rows(vm_bake.measure(servers))
    finally:
        servers.stop()


def run(quick: bool, fresh: bool, vm: bool = False) -> list[Row]:
    rows: list[Row] = []
    failures: list[str] = []

    _progress("boot path and idle precision (pure)")
    rows += boot.rows()
    rows += idle.rows(idle.measure(patterns=50 if quick else 1000))

    _progress("image weight" + (" (fresh install)" if fresh else " (cached copy if any)"))
    rows += weight.rows(weight.measure(fresh, repeats=1 if quick else 3, without_bytecode=not quick,
                                       allow_build=not quick))  # fmt: skip

    _progress("starting the local servers")
    servers = Servers.start()
    try:
        _progress("pipe overhead vs the eager-import baseline")
        if quick:
            result = overhead.measure(servers, runs=1, clouds=CLOUDS, warmup=False)
        else:
            result = overhead.measure(servers, runs=5, clouds=("aws",))
            more = overhead.measure(servers, runs=3, clouds=("gcp", "azure"), warmup=False)
            result.pipe.update(more.pipe)
            result.eager.update(more.eager)
            result.failures += more.failures
        failures += result.failures
        rows += overhead.rows(result)

        _progress("ONLINE detection and launch/reuse API calls (production poll cadence)")
        launched = online.measure(servers, runs=1 if quick else 5)
        failures += launched.failures
        rows += online.rows(launched)

        _progress("report and pr API calls")
        rows += modes.rows(servers)

        _progress("Bitbucket and EC2 calls per launch with N runners and M instances")
        launches, scale_failures = scale.measure(servers, quick)
        failures += scale_failures
        rows += scale.rows(launches, scale_failures)

        if vm:
            _progress("boot path on real VMs, stock and without Docker (QEMU under TCG: minutes)")
            rows += vm_boot.rows(vm_boot.measure(servers))
            _progress("stock vs baked launch -> ONLINE on real VMs: a bake, then one launch of each (QEMU: minutes)")
            rows += vm_bake.rows(vm_bake.measure(servers))
    finally:
        servers.stop()
    for problem in failures:
        _progress("failure: " + problem.splitlines()[0])
    return ordered(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks of the pipe against the local servers.")
    parser.add_argument("--quick", action="store_true", help="fewer samples, under a minute")
    parser.add_argument("--fresh", action="store_true", help="rebuild the image copy (pip install) from scratch")
    parser.add_argument("--vm", action="store_true", help="also boot real VMs (test/support/fakes/vm): the boot path")
    parser.add_argument("--vm-only", action="store_true", help="only the boot path on real VMs")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every figure and raw sample here")
    args = parser.parse_args(argv)
    start = time.monotonic()
    info = machine()
    rows = run_vm_only() if args.vm_only else run(args.quick, args.fresh, args.vm)
    elapsed = time.monotonic() - start
    command = "python bench/run.py" + (" --quick" if args.quick else "") + (" --fresh" if args.fresh else "")
    command += " --vm" if args.vm else ""
    command += " --vm-only" if args.vm_only else ""
    print(render(rows))
    print(
        f"\n{command}: {elapsed:.0f} s on {info['cpus']} CPUs, Python {info['python']}, "
        f"load average {info['load_average_1m_at_start']} at start"
    )
    if args.json:
        payload = {"command": command, "elapsed_s": elapsed, "machine": info, "rows": [r.as_json() for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

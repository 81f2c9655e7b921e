"""Boot path budget: the steps the startup script performs per cloud's default image, CPU and GPU, with
the time budget of each (pipe/bootstrap/steps.py: the script's steps measured on a real VM under TCG
emulation, an upper bound; the instance's boot, the image pull and the runner's start on paper), summed
into the time from launch to ONLINE. Pure: nothing is booted here (bench/vm_boot.py boots)."""

from __future__ import annotations

from bench.table import Row
from pipe.bootstrap.steps import BOOT_STEPS, boot_budget_s

CLOUDS = ("aws", "gcp", "azure")
MAIN_STEP_S = 2.0  # steps under this are summed as "small" in the table (all are in --json)


def _fmt(seconds: float) -> str:
    return f"{seconds:g}"


def rows() -> list[Row]:
    out = []
    for cloud in CLOUDS:
        for gpu in (False, True):
            steps = BOOT_STEPS[(cloud, gpu)]
            total = boot_budget_s(cloud, gpu)
            big = [(name, seconds) for name, seconds, _ in steps if seconds >= MAIN_STEP_S]
            small = [seconds for _, seconds, _ in steps if 0 < seconds < MAIN_STEP_S]
            listed = " + ".join(f"{name} {_fmt(seconds)}" for name, seconds in big)
            if small:
                listed += f" + {len(small)} small {_fmt(round(sum(small), 1))}"
            out.append(
                Row(
                    f"Boot path {cloud} {'GPU' if gpu else 'CPU'}: launch -> ONLINE (budget)",
                    f"{_fmt(total)} s = {listed}",
                    "- (script steps: TCG upper bounds; cloud boot, pull, runner: on paper)",
                    None,
                    {"total_s": total, "steps": [{"name": n, "budget_s": s, "what": w} for n, s, w in steps]},
                )
            )
    return out

"""Boot path on paper: the steps the startup script performs per cloud's default image, CPU and GPU,
with the time budget of each (pipe/bootstrap/steps.py), summed into the time from launch to ONLINE.
Pure: nothing is booted; this stands until a real cloud is measured."""

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
                    f"Boot path {cloud} {'GPU' if gpu else 'CPU'}: launch -> ONLINE (on paper)",
                    f"{_fmt(total)} s = {listed}",
                    "- (budget; no real cloud measured)",
                    None,
                    {"total_s": total, "steps": [{"name": n, "budget_s": s, "what": w} for n, s, w in steps]},
                )
            )
    return out

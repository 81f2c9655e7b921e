"""One row per figure, and the one table they are printed as."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    figure: str
    measured: str
    goal: str = "-"
    met: bool | None = None  # None: informational, no goal
    data: dict[str, Any] = field(default_factory=dict)  # raw numbers, for --json

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "NO", None: "info"}[self.met]

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ordered(rows: list[Row]) -> list[Row]:
    """The table's order: overhead, detection, API calls, weight, imports, idle, boot path."""
    order = ("Pipe overhead", "ONLINE", "Bitbucket", "Image", "Import", "Idle", "Boot path on a real VM", "Boot")
    return sorted(rows, key=lambda r: next((i for i, p in enumerate(order) if r.figure.startswith(p)), len(order)))


def render(rows: list[Row]) -> str:
    """A Markdown table: readable in a terminal, pasteable into docs/performance.md."""
    header = ("Figure", "Measured", "Goal", "Met?")
    cells = [header, *((r.figure, r.measured, r.goal, r.verdict) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]

    def line(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(c) for c in cells[1:])])

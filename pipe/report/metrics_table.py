"""The metrics table appended to the report, as `dvc metrics diff` shows it: Path | Metric | Old | New | Change,
the new file against the same file at the destination branch's head."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipe.formats.metrics import Metric, fmt, number


@dataclass(frozen=True)
class DiffRow:
    path: str
    metric: str
    old: Metric | None
    new: Metric | None

    @property
    def change(self) -> str:
        old, new = number(self.old), number(self.new)
        if old is None or new is None:
            if self.old is not None and self.new is not None and self.old != self.new:
                return "changed"
            return "-"
        delta = new - old
        if isinstance(self.new, int) and isinstance(self.old, int) and not isinstance(self.new, bool):
            return f"{int(delta):+d}" if delta else "0"
        text = fmt(delta)
        return text if text.startswith("-") or text == "0" else "+" + text


def diff(path: str, old: Mapping[str, Metric] | None, new: Mapping[str, Metric]) -> list[DiffRow]:
    """New metrics in file order, then those only the old file has."""
    before = old or {}
    rows = [DiffRow(path, k, before.get(k), v) for k, v in new.items()]
    rows += [DiffRow(path, k, v, None) for k, v in before.items() if k not in new]
    return rows


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(rows: list[DiffRow], baseline: str) -> str:
    """The markdown section appended to the report; `baseline` says what Old is."""
    lines = [
        "### Metrics",
        "",
        f"Old: {baseline}",
        "",
        "| Path | Metric | Old | New | Change |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        cells = [r.path, r.metric, fmt(r.old), fmt(r.new), r.change]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"

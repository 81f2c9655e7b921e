"""METRICS_FILE: parse (JSON, YAML, dvclive's metrics.json, `key: value` lines), flatten, diff, render.

Nested keys are flattened with '.', lists by index (`scores.0`). The table follows
`dvc metrics diff`: Path | Metric | Old | New | Change, numbers rounded to 5 decimals.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

Value = bool | int | float | str
PRECISION = 5


class MetricsError(Exception):
    """The metrics file cannot be understood; str() says why in one line."""


@dataclass(frozen=True)
class Percent:
    """A value written as `93.5%`: a Code Insights PERCENTAGE."""

    value: float

    def __str__(self) -> str:
        return f"{fmt(self.value)}%"


Metric = Value | Percent
_PERCENT = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*%\s*$")
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_LINE = re.compile(r"^\s*([^:=#\s][^:=]*?)\s*[:=]\s*(.*?)\s*$")


def parse(text: str, filename: str = "") -> dict[str, Metric]:
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    data: object
    if suffix == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise MetricsError(f"not valid JSON: {err.msg} at line {err.lineno}") from err
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                data = _key_value_lines(text)
            if isinstance(data, str | int | float) or data is None:  # one bare line is not a metrics file
                data = _key_value_lines(text)
    if not isinstance(data, dict):
        raise MetricsError("expected a mapping of metric names to values")
    metrics = flatten(data)
    if not metrics:
        raise MetricsError("no metrics found")
    return metrics


def _key_value_lines(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise MetricsError(f"cannot read line {line.strip()[:60]!r}; expected `name: value`")
        out[m.group(1)] = _scalar(m.group(2))
    return out


def _scalar(text: str) -> object:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


def flatten(data: object, prefix: str = "") -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    if isinstance(data, Mapping):
        items: list[tuple[str, object]] = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list | tuple):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        if prefix:
            metric = _metric(data)
            if metric is not None:
                out[prefix] = metric
        return out
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return out


def _metric(value: object) -> Metric | None:
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    m = _PERCENT.match(text)
    if m:
        return Percent(float(m.group(1)))
    if _NUMBER.match(text):  # YAML 1.1 reads `1e-3` as a string
        return float(text)
    return text


def number(value: Metric | None) -> float | None:
    if isinstance(value, Percent):
        return value.value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    return float(value)


def fmt(value: Metric | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e12 or abs(value) < 10**-PRECISION):
            return f"{value:.{PRECISION}g}"
        text = f"{round(value, PRECISION):.{PRECISION}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


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

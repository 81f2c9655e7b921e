"""The Code Insights report on the commit: metrics as typed data fields, THRESHOLDS as PASSED/FAILED.

Bitbucket shows at most 10 data fields: thresholded metrics come first (in
THRESHOLDS order), then the others in file order; the rest are in the comment.
"""

from __future__ import annotations

import hashlib
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipe.bitbucket.models import ReportData
from pipe.report.metrics import Metric, Percent, fmt, number

MAX_DATA_FIELDS = 10
THRESHOLDS_ALLOWED = "comma-separated <metric><op><number>, op one of >= <= > < == !=, e.g. accuracy>=0.9,loss<0.3"
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_THRESHOLD = re.compile(r"^\s*(?P<metric>[^<>=!\s][^<>=!]*?)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[^<>=!]+?)\s*$")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{fmt(self.value)}"

    def passes(self, actual: float) -> bool:
        return _OPS[self.op](actual, self.value)


def parse_thresholds(text: str) -> tuple[Threshold, ...]:
    """Raises ValueError naming the bad part; the caller turns it into a ConfigError."""
    out: list[Threshold] = []
    for part in text.split(","):
        if not part.strip():
            continue
        m = _THRESHOLD.match(part)
        if not m:
            raise ValueError(f"cannot read {part.strip()!r}")
        try:
            value = float(m.group("value").rstrip("%"))
        except ValueError:
            raise ValueError(f"{m.group('value')!r} in {part.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{m.group('value')!r} in {part.strip()!r} is not a finite number")
        out.append(Threshold(m.group("metric"), m.group("op"), value))
    return tuple(out)


@dataclass(frozen=True)
class Outcome:
    threshold: Threshold
    actual: Metric | None
    passed: bool

    def __str__(self) -> str:
        mark = "passed" if self.passed else "FAILED"
        got = "missing" if self.actual is None else fmt(self.actual)
        return f"{self.threshold} ({got}): {mark}"


def evaluate(thresholds: tuple[Threshold, ...], metrics: Mapping[str, Metric]) -> list[Outcome]:
    """A missing or non-numeric metric fails its threshold: a gate that cannot be checked is not passed."""
    out = []
    for t in thresholds:
        actual = metrics.get(t.metric)
        value = number(actual)
        out.append(Outcome(t, actual, value is not None and not math.isnan(value) and t.passes(value)))
    return out


@dataclass(frozen=True)
class InsightsReport:
    report_id: str
    title: str
    details: str
    result: str | None  # PASSED | FAILED | None (no thresholds)
    data: list[ReportData]
    outcomes: list[Outcome]


def report_id(watermark_title: str) -> str:
    """One report per WATERMARK_TITLE on a commit, like one comment per title."""
    if not watermark_title:
        return "cml-runner-report"
    return "cml-runner-report-" + hashlib.sha256(watermark_title.encode()).hexdigest()[:12]


def data_field(title: str, value: Metric) -> ReportData:
    if isinstance(value, Percent) and math.isfinite(value.value):
        return ReportData(title, "PERCENTAGE", value.value)
    if isinstance(value, bool):
        return ReportData(title, "BOOLEAN", value)
    if isinstance(value, int | float) and math.isfinite(value):
        return ReportData(title, "NUMBER", value)
    return ReportData(title, "TEXT", fmt(value)[:200])


def build(
    metrics: Mapping[str, Metric],
    thresholds: tuple[Threshold, ...],
    *,
    source: str,
    watermark_title: str = "",
) -> InsightsReport:
    outcomes = evaluate(thresholds, metrics)
    first = [t.metric for t in thresholds if t.metric in metrics]
    order = list(dict.fromkeys(first + list(metrics)))
    shown = order[:MAX_DATA_FIELDS]
    data = [data_field(name, metrics[name]) for name in shown]
    details = [f"{len(metrics)} metrics from {source}."]
    if outcomes:
        details.append("Thresholds: " + "; ".join(str(o) for o in outcomes) + ".")
    if len(order) > len(shown):
        details.append(f"{len(order) - len(shown)} more metrics are in the report comment.")
    result = None if not outcomes else ("PASSED" if all(o.passed for o in outcomes) else "FAILED")
    title = "CML report" + (f": {watermark_title}" if watermark_title else "")
    return InsightsReport(report_id(watermark_title), title[:100], " ".join(details)[:2000], result, data, outcomes)

"""THRESHOLDS: gates on metrics, `accuracy>=0.9,loss<0.3`. Parsing raises ValueError naming the bad part."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from pipe.formats.metrics import fmt

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

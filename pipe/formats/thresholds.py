"""THRESHOLDS: gates on metrics, `accuracy>=0.9,loss<0.3`. Parsing raises ValueError naming the bad part."""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from pipe.formats.metrics import fmt

SHOWN_NAMES = 20  # metric names listed in the error; a dvclive file can hold hundreds
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


def check_known(thresholds: tuple[Threshold, ...], names: Collection[str]) -> None:
    """A threshold on a metric no file has can never be checked: that is a typo, not a failed gate. Raises
    ValueError naming the unknown metrics, the closest names, and the metric names there are."""
    unknown = [t.metric for t in thresholds if t.metric not in names]
    if not unknown:
        return
    listed = sorted(names)
    shown = ", ".join(listed[:SHOWN_NAMES]) + (
        f" and {len(listed) - SHOWN_NAMES} more" if len(listed) > SHOWN_NAMES else ""
    )
    close = [m for name in unknown for m in difflib.get_close_matches(name, listed, n=1)]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    what = "no metric" if len(unknown) == 1 else "no metrics"
    there = f"the metrics are: {shown}" if listed else "the metrics file holds no metric"
    raise ValueError(f"{what} {', '.join(repr(n) for n in unknown)} in any metrics file{hint}; {there}")

"""A metrics file (METRICS_FILE, and the same file on the destination branch): JSON, YAML, TOML (by its
`.toml` name), dvclive's metrics.json or `key: value` lines, flattened; and how a metric is shown.

Nested keys are flattened with '.', lists by index (`scores.0`); numbers are shown rounded to 5 decimals.

The file comes from the build (or from the destination branch), so nothing in it may cost more than a
metrics file should: nesting, YAML aliases, values and digits are bounded, and a number too large to
send to Code Insights is refused here, before anything is posted. Every failure is a MetricsError.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

import yaml

from pipe.errors import PipeError

Value = bool | int | float | str
PRECISION = 5
MAX_DEPTH = 32  # dvclive nests 2-3 levels
MAX_VALUES = 1000  # metrics in one file; Code Insights shows 10, the comment table the rest
MAX_NODES = 20_000  # mappings, lists and values visited while flattening: bounds shared YAML aliases too
MAX_ALIASES = 100  # YAML alias references (*name) in one file: a "billion laughs" file has them in chains
MAX_INT_DIGITS = 19  # a Java long, what Code Insights stores; Python refuses int() of more than 4300 digits
_INF_WORDS = frozenset({"inf", "infinity", ".inf", "nan", ".nan"})
# The file is parsed whole in memory; real metrics files are a few kilobytes.
MAX_FILE_BYTES = 1_000_000


class MetricsError(PipeError):
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
    try:
        if suffix == "toml":  # DVC reads TOML metrics too (dvc.org/doc/command-reference/metrics)
            try:
                data = tomllib.loads(text, parse_float=_float_text)
            except tomllib.TOMLDecodeError as err:
                raise MetricsError(f"not valid TOML: {err}") from err
        elif suffix == "json":
            try:
                data = _json(text)
            except json.JSONDecodeError as err:
                raise MetricsError(f"not valid JSON: {err.msg} at line {err.lineno}") from err
        else:
            try:
                data = _json(text)
            except json.JSONDecodeError:
                try:
                    data = yaml.load(text, Loader=_Loader)  # noqa: S506  # a SafeLoader, bounded below
                except yaml.YAMLError:
                    data = _key_value_lines(text)
                if isinstance(data, str | int | float) or data is None:  # one bare line is not a metrics file
                    data = _key_value_lines(text)
    except RecursionError:
        raise MetricsError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as err:  # int() of more than 4300 digits, from json or yaml
        raise MetricsError(f"a number cannot be read ({err})") from None
    if not isinstance(data, dict):
        raise MetricsError("expected a mapping of metric names to values")
    metrics = flatten(data)
    if not metrics:
        raise MetricsError("no metrics found")
    return metrics


def _json(text: str) -> object:
    return json.loads(text, parse_int=_int_text, parse_float=_float_text)


def _int_text(text: str) -> int:
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:
        raise MetricsError(f"the number {_short(text)} has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _float_text(text: str) -> float:
    """A number as written: one too large for a float (1e999, 99...9) is refused, not turned into inf."""
    value = float(text)
    if not math.isfinite(value) and text.strip().lstrip("+-").lower() not in _INF_WORDS:
        raise MetricsError(f"the number {_short(text)} is out of range")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} characters)"


class _Loader(yaml.SafeLoader):
    """PyYAML's SafeLoader with aliases and numbers bounded: a 300-byte alias chain otherwise expands to
    billions of values when walked, and a 5000-digit integer is a ValueError from int()."""

    aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise MetricsError(f"more than {MAX_ALIASES} YAML aliases (*name)")
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = str(node.value).replace("_", "").lstrip("+-")
        if len(digits) > MAX_INT_DIGITS:
            raise MetricsError(f"the number {_short(str(node.value))} has more than {MAX_INT_DIGITS} digits")
        return int(super().construct_yaml_int(node))

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = float(super().construct_yaml_float(node))
        if not math.isfinite(value) and str(node.value).strip().lstrip("+-").lower() not in _INF_WORDS:
            raise MetricsError(f"the number {_short(str(node.value))} is out of range")
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


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
    if re.fullmatch(r"[-+]?\d+", text):
        return _int_text(text)
    try:
        return _float_text(text)
    except ValueError:
        return text.strip("'\"")


def flatten(data: object, prefix: str = "") -> dict[str, Metric]:
    """Nested mappings and lists -> {"a.b.0": value}, within MAX_DEPTH, MAX_NODES and MAX_VALUES."""
    out: dict[str, Metric] = {}
    budget = [MAX_NODES]
    _flatten(data, prefix, out, 0, budget)
    return out


def _flatten(data: object, prefix: str, out: dict[str, Metric], depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise MetricsError(f"more than {MAX_NODES} values and groups (shared YAML aliases count each time)")
    if isinstance(data, Mapping):
        items: list[tuple[str, object]] = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list | tuple):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        if prefix:
            metric = _metric(data, prefix)
            if metric is not None:
                out[prefix] = metric
                if len(out) > MAX_VALUES:
                    raise MetricsError(f"more than {MAX_VALUES} metrics")
        return
    if depth >= MAX_DEPTH:  # also stops a YAML mapping that contains itself (&a [*a])
        raise MetricsError(f"nested more than {MAX_DEPTH} levels deep")
    for key, value in items:
        _flatten(value, f"{prefix}.{key}" if prefix else key, out, depth + 1, budget)


def _metric(value: object, name: str = "") -> Metric | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_INT_DIGITS:
            raise MetricsError(f"metric {name!r}: the number has more than {MAX_INT_DIGITS} digits")
        return value
    if isinstance(value, float):
        return value
    text = str(value)
    m = _PERCENT.match(text)
    try:
        if m:
            return Percent(_float_text(m.group(1)))
        if _NUMBER.match(text):  # YAML 1.1 reads `1e-3` as a string
            return _float_text(text.strip())
    except MetricsError as err:
        raise MetricsError(f"metric {name!r}: {err}") from None
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

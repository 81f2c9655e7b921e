"""Metrics: each input format, flattening, the diff table, the Code Insights report and THRESHOLDS."""

from __future__ import annotations

import pytest

from pipe.formats import metrics
from pipe.formats.metrics import MetricsError, Percent
from pipe.formats.thresholds import parse_thresholds
from pipe.report import insights, metrics_table

DVCLIVE = '{"step": 9, "train": {"loss": 0.21, "acc": 0.93}, "eval": {"loss": 0.35, "acc": 0.9}}'


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("metrics.json", '{"accuracy": 0.93, "loss": 0.2}', {"accuracy": 0.93, "loss": 0.2}),
        ("metrics.yaml", "accuracy: 0.93\nloss: 0.2\n", {"accuracy": 0.93, "loss": 0.2}),
        ("metrics.txt", "accuracy: 0.93\nloss = 0.2\n# comment\n", {"accuracy": 0.93, "loss": 0.2}),
        ("metrics.txt", "lr: 1e-3\nname: resnet %50\nok: true\n", {"lr": 0.001, "name": "resnet %50", "ok": True}),
        ("metrics", "epochs: 10", {"epochs": 10}),
    ],
)
def test_formats(name: str, text: str, expected: dict[str, object]) -> None:
    assert metrics.parse(text, name) == expected


def test_dvclive_nested_keys_flattened_in_file_order() -> None:
    assert metrics.parse(DVCLIVE, "dvclive/metrics.json") == {
        "step": 9,
        "train.loss": 0.21,
        "train.acc": 0.93,
        "eval.loss": 0.35,
        "eval.acc": 0.9,
    }


def test_yaml_nested_lists_and_percentages() -> None:
    got = metrics.parse("model:\n  scores: [1, 2]\n  acc: 93.5%\n  note: null\n", "m.yml")
    assert got == {"model.scores.0": 1, "model.scores.1": 2, "model.acc": Percent(93.5)}


@pytest.mark.parametrize("text", ["[1, 2]", "{}", "just words", '{"a": {"b": null}}'])
def test_not_metrics(text: str) -> None:
    with pytest.raises(MetricsError):
        metrics.parse(text, "m.txt")


def test_bad_json_says_where() -> None:
    with pytest.raises(MetricsError, match="line 1"):
        metrics.parse("{oops", "m.json")


def test_diff_against_older_file() -> None:
    old = {"acc": 0.9, "loss": 0.3, "epochs": 5, "gone": 1.0, "name": "a"}
    new = {"acc": 0.93, "loss": 0.25, "epochs": 8, "name": "b", "added": True}
    rows = {r.metric: r for r in metrics_table.diff("metrics.json", old, new)}
    assert rows["acc"].change == "+0.03"
    assert rows["loss"].change == "-0.05"
    assert rows["epochs"].change == "+3"
    assert rows["name"].change == "changed"
    assert rows["added"].change == "-" and rows["added"].old is None
    assert rows["gone"].new is None and rows["gone"].change == "-"
    assert list(rows)[-1] == "gone"  # removed metrics come last


def test_diff_without_old_file() -> None:
    rows = metrics_table.diff("m.json", None, {"acc": 0.5})
    assert [(r.old, r.new, r.change) for r in rows] == [(None, 0.5, "-")]


def test_table_is_dvc_metrics_diff_shaped() -> None:
    text = metrics_table.table(metrics_table.diff("m.json", {"acc": 0.9}, {"acc": 0.912345678}), "`m.json` on `main`")
    lines = text.splitlines()
    assert "| Path | Metric | Old | New | Change |" in lines
    assert "| m.json | acc | 0.9 | 0.91235 | +0.01235 |" in lines
    assert "Old: `m.json` on `main`" in lines


def test_table_escapes_pipes() -> None:
    text = metrics_table.table(metrics_table.diff("m.json", None, {"a|b": "x|y"}), "none")
    assert "| m.json | a\\|b | - | x\\|y | - |" in text


def test_formatting() -> None:
    assert [metrics.fmt(v) for v in (1, 0.5, 1e-7, 2.0, True, None, Percent(93.0))] == [
        "1",
        "0.5",
        "1e-07",
        "2",
        "true",
        "-",
        "93%",
    ]


# --- Code Insights


def test_thresholds_pass() -> None:
    t = parse_thresholds("accuracy>=0.9,loss<0.3")
    r = insights.build({"accuracy": 0.93, "loss": 0.2}, t, source="metrics.json")
    assert r.result == "PASSED"
    assert [o.passed for o in r.outcomes] == [True, True]


def test_thresholds_fail_and_missing_metric_fails() -> None:
    t = parse_thresholds("accuracy>=0.9,loss<0.3,f1>0.5")
    r = insights.build({"accuracy": 0.85, "loss": 0.2}, t, source="metrics.json")
    assert r.result == "FAILED"
    assert [o.passed for o in r.outcomes] == [False, True, False]
    assert "f1>0.5 (missing): FAILED" in r.details


def test_no_thresholds_no_result() -> None:
    assert insights.build({"a": 1}, (), source="m.json").result is None


@pytest.mark.parametrize("text", ["acc", "acc>=", ">=0.9", "acc>=0.9x", "acc=>0.9", "acc>=nan"])
def test_bad_thresholds(text: str) -> None:
    with pytest.raises(ValueError):
        parse_thresholds(text)


def test_all_operators() -> None:
    t = parse_thresholds("a>1,b<1,c>=1,d<=1,e==1,f!=1")
    assert [x.passes(1.0) for x in t] == [False, False, True, True, True, False]


def test_data_fields_are_typed() -> None:
    values = {"acc": 0.9, "epochs": 3, "ok": True, "model": "resnet", "share": Percent(40.0), "bad": float("nan")}
    r = insights.build(values, (), source="m.json")
    assert [(d.title, d.type, d.value) for d in r.data] == [
        ("acc", "NUMBER", 0.9),
        ("epochs", "NUMBER", 3),
        ("ok", "BOOLEAN", True),
        ("model", "TEXT", "resnet"),
        ("share", "PERCENTAGE", 40.0),
        ("bad", "TEXT", "nan"),
    ]


def test_more_than_ten_metrics_thresholded_first() -> None:
    values = {f"m{i:02}": float(i) for i in range(15)}
    r = insights.build(values, parse_thresholds("m14>1,m12<1"), source="m.json")
    assert len(r.data) == insights.MAX_DATA_FIELDS
    assert [d.title for d in r.data] == ["m14", "m12", "m00", "m01", "m02", "m03", "m04", "m05", "m06", "m07"]
    assert "5 more metrics are in the report comment" in r.details
    assert r.result == "FAILED"


def test_report_id_per_watermark() -> None:
    assert insights.report_id("") == "cml-runner-report"
    assert insights.report_id("a") != insights.report_id("b")

"""Report mode's variables: what load() accepts and the one-line errors it gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures_pipe import output_lines, run_pipe

from pipe.config.report import VARIABLES, load
from pipe.config.variables import ConfigError
from pipe.formats.thresholds import Threshold


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "report.md").write_text("# Report\n")
    (tmp_path / "metrics.json").write_text('{"acc": 0.9, "loss": 0.2}')
    return tmp_path


def env(clone: Path, **values: str) -> dict[str, str]:
    return {"BITBUCKET_CLONE_DIR": str(clone), "REPORT_FILE": "report.md", **values}


def test_defaults(clone: Path) -> None:
    s = load(env(clone))
    assert s.report_file == clone / "report.md"
    assert (s.target.kind, s.update, s.publish, s.watermark_title) == ("auto", False, True, "")
    assert s.metrics_file is None and s.thresholds == () and s.preview_file is None


def test_everything(clone: Path) -> None:
    s = load(
        env(
            clone,
            TARGET="pr/12",
            UPDATE="yes",
            PUBLISH="false",
            METRICS_FILE="metrics.json",
            THRESHOLDS="acc>=0.9, loss < 0.3",
            PREVIEW_FILE="out/preview.md",
            WATERMARK_TITLE="run {run} of {workflow}",
            BITBUCKET_BUILD_NUMBER="42",
            BITBUCKET_PIPELINE_UUID="{abc}",
        )
    )
    assert (s.target.kind, s.target.pr_id, s.update, s.publish) == ("pr", 12, True, False)
    assert s.thresholds == (Threshold("acc", ">=", 0.9), Threshold("loss", "<", 0.3))
    assert s.metrics_file == clone / "metrics.json"
    assert s.preview_file == clone / "out" / "preview.md"
    assert s.watermark_title == "run 42 of abc"


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"REPORT_FILE": ""}, "REPORT_FILE is required"),
        ({"REPORT_FILE": "nope.md"}, "REPORT_FILE: 'nope.md'"),
        ({"REPORT_FILE": "."}, "is a directory"),
        ({"TARGET": "issue/3"}, "TARGET: 'issue/3'"),
        ({"TARGET": "commit/xyz"}, "TARGET: 'commit/xyz'"),
        ({"UPDATE": "maybe"}, "UPDATE: 'maybe'"),
        ({"METRICS_FILE": "missing.json"}, "METRICS_FILE: 'missing.json'"),
        ({"METRICS_FILE": "metrics.json", "THRESHOLDS": "acc=>0.9"}, "THRESHOLDS: 'acc=>0.9'"),
        ({"METRICS_FILE": "metrics.json", "THRESHOLDS": "acc>=high"}, "THRESHOLDS: 'acc>=high'"),
        ({"THRESHOLDS": "acc>=0.9"}, "THRESHOLDS needs METRICS_FILE"),
        (
            {"METRICS_FILE": "metrics.json", "THRESHOLDS": "acc>=0.9,los<0.3"},
            "THRESHOLDS: 'acc>=0.9,los<0.3' is not valid; no metric 'los' in any metrics file "
            "(did you mean loss?); the metrics are: acc, loss",
        ),
        ({"PREVIEW_FILE": "."}, "PREVIEW_FILE"),
    ],
)
def test_errors_name_the_variable_on_one_line(clone: Path, values: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(env(clone, **values))
    assert names in str(err.value)
    assert "\n" not in str(err.value)


def test_a_report_that_cannot_be_read_names_the_variable(clone: Path) -> None:
    """Unreadable even for root (tests run as root in CI): a directory where the file should be."""
    (clone / "report.md").unlink()
    (clone / "report.md").mkdir()
    with pytest.raises(ConfigError, match=r"REPORT_FILE: .* is a directory"):
        load(env(clone))


def test_declared_variables() -> None:
    names = [v.name for v in VARIABLES]
    assert names[0] == "REPORT_FILE" and VARIABLES[0].required
    for name in ("TARGET", "UPDATE", "WATERMARK_TITLE", "PUBLISH", "METRICS_FILE", "THRESHOLDS", "PREVIEW_FILE"):
        assert name in names


def test_a_report_that_is_not_text_fails_with_one_line_before_any_api_call(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_bytes(b"\xff\xfe not text \x80")
    proc = run_pipe({"COMMAND": "report", "REPORT_FILE": "report.md"}, cwd=tmp_path)
    lines = output_lines(proc)
    assert proc.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("✖ REPORT_FILE:") and "UTF-8" in lines[0], lines


def test_a_threshold_on_an_unknown_metric_lists_at_most_twenty_names(clone: Path) -> None:
    (clone / "metrics.json").write_text("{" + ", ".join(f'"m{i:02}": {i}' for i in range(25)) + "}")
    with pytest.raises(ConfigError) as err:
        load(env(clone, METRICS_FILE="metrics.json", THRESHOLDS="m99<1,zz>0"))
    line = str(err.value)
    assert "no metrics 'm99', 'zz' in any metrics file" in line
    assert "m00, m01" in line and "m19 and 5 more" in line and "m20" not in line

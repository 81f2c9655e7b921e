"""Report mode's variables and their typed, validated settings.

Paths are relative to the clone directory (BITBUCKET_CLONE_DIR, else the working
directory), as a step's own commands see them. PR mode reads REPORT_FILE too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipe.config.parsers import check_text, parse_bool
from pipe.config.variables import ConfigError, Variable
from pipe.report.insights import THRESHOLDS_ALLOWED, Threshold, parse_thresholds
from pipe.report.targets import TargetSpec, parse_target

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "REPORT_FILE",
        "The markdown report to post, e.g. `report.md`; images and links in it are relative to it. "
        "In `pr` mode, optional: the PR's description and a comment on it.",
        required=True,
        modes=("report", "pr"),
        optional_in=("pr",),
    ),
    Variable(
        "TARGET",
        "Where the report goes: `auto` (the build's PR, else an open PR from this commit or branch, else the "
        "commit), `pr`, `commit`, `pr/<id>` or `commit/<sha>`.",
        default="auto",
        modes=("report",),
    ),
    Variable(
        "UPDATE",
        "Edit the pipe's earlier report comment on the target (same WATERMARK_TITLE) instead of adding one.",
        default="false",
        modes=("report",),
        example="'<boolean>'",
    ),
    Variable(
        "WATERMARK_TITLE",
        "A name that keeps several reports apart on one PR (one comment and one Code Insights report each); "
        "`{workflow}` and `{run}` become the pipeline UUID and build number.",
        modes=("report", "pr"),
    ),
    Variable(
        "PUBLISH",
        "Upload local images and files linked in the report, and `data:` images, to the repository's Downloads "
        "and link to them.",
        default="true",
        modes=("report", "pr"),
        example="'<boolean>'",
    ),
    Variable(
        "METRICS_FILE",
        "Metrics (JSON, YAML, dvclive's `metrics.json`, or `key: value` lines) for a Code Insights report and a "
        "table comparing them with the same file on the destination branch.",
        modes=("report", "pr"),
    ),
    Variable(
        "THRESHOLDS",
        "Gates on metrics that set the Code Insights report to PASSED or FAILED, e.g. `accuracy>=0.9,loss<0.3`.",
        modes=("report", "pr"),
    ),
    Variable(
        "PREVIEW_FILE",
        "Write the markdown that is posted to this file and an HTML rendering next to it (`.html`).",
        modes=("report", "pr"),
    ),
)


@dataclass(frozen=True)
class ReportSettings:
    report_file: Path  # absolute
    target: TargetSpec = field(default_factory=lambda: TargetSpec("auto"))
    update: bool = False
    watermark_title: str = ""
    publish: bool = True
    metrics_file: Path | None = None  # absolute
    thresholds: tuple[Threshold, ...] = ()
    preview_file: Path | None = None  # absolute


def _base_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("BITBUCKET_CLONE_DIR", "").strip() or os.getcwd())


def _readable(name: str, value: str, base: Path) -> Path:
    path = (base / value).resolve()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ConfigError(name, value, f"{path} {what}; give a file path relative to {base}")
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise ConfigError(name, value, f"{path} cannot be read ({err.strerror})") from None
    return path


def watermark(title: str, env: Mapping[str, str]) -> str:
    """CML's placeholders: {workflow} is the pipeline, {run} the build."""
    return title.replace("{workflow}", env.get("BITBUCKET_PIPELINE_UUID", "").strip("{} ")).replace(
        "{run}", env.get("BITBUCKET_BUILD_NUMBER", "").strip()
    )


def load(env: Mapping[str, str]) -> ReportSettings:
    def get(name: str) -> str:
        return env.get(name, "").strip()

    base = _base_dir(env)
    if not get("REPORT_FILE"):
        raise ConfigError.missing("REPORT_FILE", "give the markdown file to post, e.g. report.md")
    report_file = _readable("REPORT_FILE", get("REPORT_FILE"), base)
    metrics_file = _readable("METRICS_FILE", get("METRICS_FILE"), base) if get("METRICS_FILE") else None
    try:
        thresholds = parse_thresholds(get("THRESHOLDS"))
    except ValueError as err:
        raise ConfigError("THRESHOLDS", get("THRESHOLDS"), f"{err}; use {THRESHOLDS_ALLOWED}") from None
    if thresholds and metrics_file is None:
        raise ConfigError(
            "THRESHOLDS", get("THRESHOLDS"), "", message="THRESHOLDS needs METRICS_FILE: the metrics to check"
        )
    title = check_text("WATERMARK_TITLE", get("WATERMARK_TITLE"), max_length=200)
    preview = get("PREVIEW_FILE")
    if preview:
        preview_path = (base / preview).resolve()
        if preview_path.is_dir():
            raise ConfigError(
                "PREVIEW_FILE", preview, f"{preview_path} is a directory; give a file name such as report-preview.md"
            )
    return ReportSettings(
        report_file=report_file,
        target=parse_target(get("TARGET")),
        update=parse_bool("UPDATE", get("UPDATE")),
        watermark_title=watermark(title, env),
        publish=parse_bool("PUBLISH", get("PUBLISH"), default=True),
        metrics_file=metrics_file,
        thresholds=thresholds,
        preview_file=(base / preview).resolve() if preview else None,
    )

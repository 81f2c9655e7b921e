"""Report mode's variables and their typed, validated settings.

Paths are relative to the clone directory (BITBUCKET_CLONE_DIR, else the working
directory), as a step's own commands see them, and must stay inside it (pipe/paths.py).
PR mode reads REPORT_FILE too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipe.config.parsers import check_text, clone_dir_of, parse_bool, parse_clone_file
from pipe.config.variables import ConfigError, Variable
from pipe.formats import metrics
from pipe.formats.metrics import MAX_FILE_BYTES, Metric
from pipe.formats.target import TargetSpec, parse_target
from pipe.formats.thresholds import THRESHOLDS_ALLOWED, Threshold, check_known, parse_thresholds
from pipe.paths import PathRefused, preview_twins, read_bytes

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "REPORT_FILE",
        "The markdown report to post, e.g. `report.md`, inside the clone; images and links in it are relative to "
        "it. In `pr` mode, optional: the PR's description and a comment on it.",
        required=True,
        modes=("report", "pr"),
        optional_in=("pr",),
    ),
    Variable(
        "TARGET",
        "Where the report goes: `auto` (the PR that PR mode opened earlier in the pipeline, else the build's PR, "
        "else an open PR from this commit or branch, else the commit), `pr` (the same PRs, never the commit), "
        "`commit`, `pr/<id>` or `commit/<sha>`.",
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
        "Upload local images and files linked in the report (regular files inside the clone, never `.git`), and "
        "`data:` images, to the repository's Downloads and link to them.",
        default="true",
        modes=("report", "pr"),
        example="'<boolean>'",
    ),
    Variable(
        "METRICS_FILE",
        "Metrics (JSON, YAML, dvclive's `metrics.json`, or `key: value` lines; inside the clone, at most 1 MB) for "
        "a Code Insights report and a table comparing them with the same file on the destination branch.",
        modes=("report", "pr"),
    ),
    Variable(
        "THRESHOLDS",
        "Gates on metrics that set the Code Insights report to PASSED or FAILED, e.g. `accuracy>=0.9,loss<0.3`.",
        modes=("report", "pr"),
    ),
    Variable(
        "PREVIEW_FILE",
        "Write the markdown that is posted to this file (inside the clone) and an HTML rendering next to it "
        "(`.html`), with only http(s), mailto, relative and `data:image` links.",
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
    metrics: Mapping[str, Metric] | None = field(default=None, repr=False)  # METRICS_FILE, parsed and checked
    thresholds: tuple[Threshold, ...] = ()
    preview_file: Path | None = None  # absolute


def _readable(name: str, value: str, base: Path) -> Path:
    """A file the pipe reads: inside the clone (pipe/paths.py), regular, and readable now."""
    path = parse_clone_file(name, value, base).real
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise ConfigError(name, value, f"{path} cannot be read ({err.strerror})") from None
    return path


def _metrics(value: str, path: Path) -> dict[str, Metric]:
    """METRICS_FILE parsed now, so a bad one stops the pipe before anything is posted (in pr mode, before the PR)."""
    try:
        return metrics.parse(read_bytes(path, max_bytes=MAX_FILE_BYTES).decode("utf-8"), path.name)
    except (OSError, UnicodeDecodeError, PathRefused) as err:
        raise ConfigError("METRICS_FILE", value, f"cannot be read ({err})") from None
    except metrics.MetricsError as err:
        raise ConfigError(
            "METRICS_FILE", value, f"{err}; use JSON, YAML or `name: value` lines (nested keys are fine)"
        ) from None


def _preview(value: str, base: Path, inputs: dict[str, Path]) -> Path:
    """PREVIEW_FILE and its .html (or .md) twin: both written, so both inside the clone, neither a symlink
    (the write would follow it), and neither one of the files the report is made from."""
    if value.endswith(("/", "\\")):
        raise ConfigError("PREVIEW_FILE", value, "give a file name such as report-preview.md, not a directory")
    parse_clone_file("PREVIEW_FILE", value, base, must_exist=False)  # a directory, .git, outside: refused here
    folder = (base / value).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError("PREVIEW_FILE", value, f"{folder} is a file, so no directory can be made there")
    written = Path(value)
    md, html = preview_twins(written)
    targets = []
    for twin in (md, html):
        shown = value if twin == written else f"{value} (its twin {twin.as_posix()})"
        target = parse_clone_file("PREVIEW_FILE", twin.as_posix(), base, must_exist=False).real
        if (base / twin).is_symlink():
            raise ConfigError("PREVIEW_FILE", shown, "the preview is written, so it must not be a symlink")
        for variable, path in inputs.items():
            if target == path or (target.exists() and os.path.samefile(target, path)):
                raise ConfigError(
                    "PREVIEW_FILE", shown, f"it is {variable}; the preview would overwrite it, give another name"
                )
        targets.append(target)
    return targets[0]


def _target(value: str) -> TargetSpec:
    try:
        return parse_target(value)
    except ValueError as allowed:
        raise ConfigError("TARGET", value, str(allowed)) from None


def watermark(title: str, env: Mapping[str, str]) -> str:
    """CML's placeholders: {workflow} is the pipeline, {run} the build."""
    return title.replace("{workflow}", env.get("BITBUCKET_PIPELINE_UUID", "").strip("{} ")).replace(
        "{run}", env.get("BITBUCKET_BUILD_NUMBER", "").strip()
    )


def load(env: Mapping[str, str]) -> ReportSettings:
    def get(name: str) -> str:
        return env.get(name, "").strip()

    base = clone_dir_of(env)
    if not get("REPORT_FILE"):
        raise ConfigError.missing("REPORT_FILE", "give the markdown file to post, e.g. report.md")
    report_file = _readable("REPORT_FILE", get("REPORT_FILE"), base)
    metrics_file = _readable("METRICS_FILE", get("METRICS_FILE"), base) if get("METRICS_FILE") else None
    if metrics_file is not None and metrics_file.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(
            "METRICS_FILE", get("METRICS_FILE"), f"at most {MAX_FILE_BYTES:,} bytes; a metrics file holds numbers"
        )
    try:
        thresholds = parse_thresholds(get("THRESHOLDS"))
    except ValueError as err:
        raise ConfigError("THRESHOLDS", get("THRESHOLDS"), f"{err}; use {THRESHOLDS_ALLOWED}") from None
    if thresholds and metrics_file is None:
        raise ConfigError(
            "THRESHOLDS", get("THRESHOLDS"), "", message="THRESHOLDS needs METRICS_FILE: the metrics to check"
        )
    parsed_metrics = _metrics(get("METRICS_FILE"), metrics_file) if metrics_file else None
    if parsed_metrics is not None:
        try:
            check_known(thresholds, parsed_metrics)
        except ValueError as err:  # before anything is posted (in pr mode, before the PR is opened)
            raise ConfigError("THRESHOLDS", get("THRESHOLDS"), str(err)) from None
    title = check_text("WATERMARK_TITLE", get("WATERMARK_TITLE"), max_length=200)
    preview = get("PREVIEW_FILE")
    inputs = {"REPORT_FILE": report_file, **({"METRICS_FILE": metrics_file} if metrics_file else {})}
    return ReportSettings(
        report_file=report_file,
        target=_target(get("TARGET")),
        update=parse_bool("UPDATE", get("UPDATE")),
        watermark_title=watermark(title, env),
        publish=parse_bool("PUBLISH", get("PUBLISH"), default=True),
        metrics_file=metrics_file,
        metrics=parsed_metrics,
        thresholds=thresholds,
        preview_file=_preview(preview, base, inputs) if preview else None,
    )

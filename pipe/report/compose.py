"""The report's comment, step by step, before anything is posted: read it, publish its assets, add the metrics
table, fit it into one comment. Each step takes plain values and the few client calls it needs."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipe import paths as clone_paths
from pipe.bitbucket.models import PullRequest, Repository
from pipe.formats import metrics
from pipe.formats.metrics import MAX_FILE_BYTES, Metric
from pipe.formats.thresholds import Threshold
from pipe.report import dvc_baseline, insights, metrics_table, publish, size
from pipe.report.errors import ReportError
from pipe.report.links import find_refs
from pipe.report.marker import add_marker, marker_line
from pipe.report.targets import same_commit

Warn = Callable[[str], None]


class Log(Protocol):
    def info(self, msg: str) -> object: ...
    def warning(self, msg: str) -> object: ...


class BaselineClient(Protocol):
    """What the metrics table reads from Bitbucket: the destination branch's head and its metrics file."""

    def repository(self) -> Repository: ...
    def branch_head(self, branch: str) -> str | None: ...
    def get_file(self, commit: str, path: str) -> bytes | None: ...


def read_report(path: Path) -> str:
    """REPORT_FILE as UTF-8 markdown, read without following a symlink put there since it was checked."""
    try:
        return clone_paths.read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ReportError.invalid("REPORT_FILE", str(path), "the report must be UTF-8 markdown text") from None
    except OSError as err:
        raise ReportError.invalid("REPORT_FILE", str(path), f"cannot be read ({err.strerror})") from None


@dataclass
class Published:
    """The report's body with its local links pointing at Downloads (or as written, without PUBLISH)."""

    body: str
    uploaded: list[str] = field(default_factory=list)  # Downloads names this run uploaded (would, with DRY_RUN)
    reused: list[str] = field(default_factory=list)  # already there: not uploaded again
    images: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # URL in the body -> content, for a preview


def plan_assets(source: str, report_file: Path, clone_dir: Path, warn: Warn) -> publish.PublishPlan:
    """Everything a publish would read, read and checked before the first write (an upload, the comment)."""
    plan = publish.plan(source, report_file.parent, clone_dir)
    for message in plan.warnings:  # a link not published is not inlined in the preview either
        warn(f"REPORT_FILE: {message}")
    return plan


def publish_assets(
    client: publish.DownloadsClient, source: str, plan: publish.PublishPlan, *, url_for: str, dry_run: bool, log: Log
) -> Published:
    """Upload what Downloads lacks (DRY_RUN: nothing) and point the links there."""
    done = publish.upload(client, plan.assets, url_for=url_for, dry_run=dry_run)
    if done.uploaded:
        verb = "DRY_RUN: would upload" if dry_run else "Uploaded"
        log.info(f"{verb} {len(done.uploaded)} file(s) to Downloads: {', '.join(done.uploaded)}")
    if done.reused:
        log.info(f"Already in Downloads, not uploaded again: {', '.join(done.reused)}")
    body = publish.rewrite(source, plan, done.urls)
    return Published(body, done.uploaded, done.reused, _images(source, plan, done.urls))


def preview_images(source: str, plan: publish.PublishPlan) -> dict[str, tuple[bytes, str]]:
    """The report's images for the HTML preview, keyed by their links as written (nothing was published)."""
    return _images(source, plan, None)


def _images(source: str, plan: publish.PublishPlan, urls: Mapping[str, str] | None) -> dict[str, tuple[bytes, str]]:
    """URL as it appears in the posted markdown -> content, for inlining in the HTML preview."""
    images: dict[str, tuple[bytes, str]] = {}
    for ref in find_refs(source):
        target = plan.refs.get(ref.start)
        if target is None:
            continue
        name = target.split("#", 1)[0]
        asset = plan.assets[name]
        images[urls[name] if urls is not None else ref.url] = (asset.content, asset.mime)
    return images


@dataclass(frozen=True)
class MetricsSection:
    markdown: str  # appended to the report: the table and the thresholds' outcomes
    insights: insights.InsightsReport  # the Code Insights report the same metrics make


def metrics_section(
    client: BaselineClient,
    values: Mapping[str, Metric],
    metrics_file: Path,
    thresholds: tuple[Threshold, ...],
    *,
    watermark_title: str,
    clone_dir: str | Path,
    commit: str,
    pr: PullRequest | None,
    warn: Warn,
) -> MetricsSection:
    """The metrics table against the destination branch's head (as `dvc metrics diff`), and the thresholds."""
    path = _repo_path(metrics_file, clone_dir)
    old, baseline = _baseline(client, commit, pr, path, warn, clone_dir)
    section = "\n\n" + metrics_table.table(metrics_table.diff(path, old, values), baseline)
    report = insights.build(values, thresholds, source=path, watermark_title=watermark_title)
    if report.outcomes:
        section += "\n**Thresholds** (" + (report.result or "") + "): " + "; ".join(map(str, report.outcomes)) + "\n"
    return MetricsSection(section, report)


def _repo_path(path: Path, clone_dir: str | Path) -> str:
    rel = os.path.relpath(path, Path(clone_dir).resolve())
    return path.name if rel.startswith("..") else Path(rel).as_posix()


def _baseline(
    client: BaselineClient, commit: str, pr: PullRequest | None, path: str, warn: Warn, clone_dir: str | Path
) -> tuple[dict[str, Metric] | None, str]:
    """The same metrics file at the destination branch's head, read through the API; when git has none there,
    the one that commit's dvc.lock (or .dvc file) records, from the local DVC cache (pipe/report/dvc_baseline.py)."""
    branch = pr.destination_branch if pr is not None else client.repository().main_branch
    if not branch:
        return None, "none (no destination branch)"
    head = client.branch_head(branch)
    if head is None:
        return None, f"none (branch `{branch}` not found)"
    if same_commit(head, commit):
        return None, f"none (this commit is the head of `{branch}`)"
    where = f"`{path}` on `{branch}` at {head[:12]}"
    content = client.get_file(head, path)
    if content is None:
        found = dvc_baseline.from_cache(client, head, path, clone_dir, where)
        return found or (None, f"none (no `{path}` on `{branch}` at {head[:12]})")
    if len(content) > MAX_FILE_BYTES:
        warn(f"METRICS_FILE: {path} on {branch} is larger than {MAX_FILE_BYTES:,} bytes; no comparison")
        return None, f"none ({where} is too large)"
    try:
        return metrics.parse(content.decode("utf-8"), path), where
    except (UnicodeDecodeError, metrics.MetricsError) as err:
        warn(f"METRICS_FILE: {path} on {branch} cannot be read ({err}); no comparison")
        return None, f"none ({where} cannot be read)"


@dataclass(frozen=True)
class Comment:
    raw: str  # exactly what is (or would be) posted, marker included
    truncated: bool
    uploaded: list[str]  # the full report, when it was cut and PUBLISH is on


def fit_comment(
    client: publish.DownloadsClient,
    body: str,
    *,
    report_name: str,
    watermark_title: str,
    publish_full: bool,
    url_for: str,
    dry_run: bool,
    warn: Warn,
) -> Comment:
    """One comment within Bitbucket's size limit, with the full report in Downloads when it is cut."""
    limit = size.COMMENT_LIMIT - len(marker_line(watermark_title)) - 2
    full_url = None
    uploaded: list[str] = []
    if len(body) > limit and publish_full:
        full = publish.Asset(
            publish.download_name(body.encode(), report_name), body.encode(), "text/markdown", "the full report"
        )
        done = publish.upload(client, {full.name: full}, url_for=url_for, dry_run=dry_run)
        full_url = done.urls[full.name]
        uploaded = done.uploaded
    body, truncated = size.fit(body, limit, full_url)
    if truncated:
        warn(
            f"REPORT_FILE: the report is longer than Bitbucket accepts in a comment; posted the first part"
            f"{' with a link to the full report' if full_url else ''}"
        )
    return Comment(add_marker(body, watermark_title), truncated, uploaded)

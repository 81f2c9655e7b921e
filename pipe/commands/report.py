"""COMMAND: report. A training report on the pull request, in place, with images, metrics and a diff.

The story: read the report (and the metrics, if any); find where it goes; upload
its local images, files and data: images to Downloads under content-addressed
names and point the links there; append the metrics table compared with the
destination branch; fit it into one comment with the invisible marker; write the
preview; then, unless DRY_RUN, post it (with UPDATE, edit our earlier comment),
put the Code Insights report on the commit, and print the comment's URL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipe import paths as clone_paths
from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.models import Comment, PullRequest
from pipe.commands.clients import bitbucket_client
from pipe.config.common import CommonSettings
from pipe.config.report import MAX_METRICS_BYTES, ReportSettings
from pipe.config.variables import ConfigError
from pipe.report import insights, metrics, preview, publish, size
from pipe.report.links import find_refs
from pipe.report.marker import add_marker, marker_line
from pipe.report.post import existing, post
from pipe.report.targets import BuildContext, CommitTarget, PrTarget, Target, resolve_target, same_commit

DOWNLOAD_URL = "https://bitbucket.org/{workspace}/{repo_slug}/downloads/{{name}}"


class Build(BuildContext, Protocol):
    """What report mode reads about the build: a subset of CommonSettings (commit, branch, pr_id and these)."""

    @property
    def workspace(self) -> str: ...
    @property
    def repo_slug(self) -> str: ...
    @property
    def clone_dir(self) -> str | Path: ...
    @property
    def dry_run(self) -> bool: ...


class Log(Protocol):
    def info(self, msg: str) -> object: ...
    def warning(self, msg: str) -> object: ...


@dataclass
class ReportResult:
    target: Target
    markdown: str  # exactly what is (or would be) posted
    action: str  # "created" | "updated" | "dry-run"
    comment: Comment | None = None
    uploaded: list[str] = field(default_factory=list)  # Downloads names this run uploaded (would, with DRY_RUN)
    reused: list[str] = field(default_factory=list)  # already there: not uploaded again
    warnings: list[str] = field(default_factory=list)
    insights: insights.InsightsReport | None = None
    truncated: bool = False
    preview: tuple[Path, Path] | None = None  # markdown, html


def run_report(
    settings: ReportSettings,
    build: Build,
    client: BitbucketClient,
    log: Log,
    *,
    target: Target | None = None,
    pr: PullRequest | None = None,
    insights_commit: str = "",
) -> ReportResult:
    """insights_commit: where the Code Insights report goes; default the target commit or the build's."""
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        log.warning(message)

    source = _read_report(settings.report_file)
    values = settings.metrics  # parsed and checked with the variables, before anything was created

    if target is None:
        target, pr, notes = resolve_target(settings.target, build, client)
        for note in notes:
            log.info(note)
    log.info(f"Report {settings.report_file.name} goes to {target}")

    # Everything that can be refused is read and checked before the first write (an upload, the comment).
    plan = publish.PublishPlan()
    if settings.publish or settings.preview_file:
        plan = publish.plan(source, settings.report_file.parent, Path(build.clone_dir))
        for message in plan.warnings:  # a link not published is not inlined in the preview either
            warn(f"REPORT_FILE: {message}")
    report: insights.InsightsReport | None = None
    metrics_section = ""
    if values is not None and settings.metrics_file is not None:
        path = _repo_path(settings.metrics_file, build.clone_dir)
        old, baseline = _baseline(client, build, pr, path, warn)
        metrics_section = "\n\n" + metrics.table(metrics.diff(path, old, values), baseline)
        report = insights.build(values, settings.thresholds, source=path, watermark_title=settings.watermark_title)
        if report.outcomes:
            metrics_section += (
                "\n**Thresholds** (" + (report.result or "") + "): " + "; ".join(map(str, report.outcomes)) + "\n"
            )

    # Publish: upload what Downloads lacks (DRY_RUN: nothing) and point the links there.
    body, uploaded, reused = source, [], []
    url_for = DOWNLOAD_URL.format(workspace=build.workspace, repo_slug=build.repo_slug)
    urls: dict[str, str] | None = None
    if settings.publish:
        done = publish.upload(client, plan.assets, url_for=url_for, dry_run=build.dry_run)
        body = publish.rewrite(source, plan, done.urls)
        uploaded, reused, urls = done.uploaded, done.reused, done.urls
        _log_uploads(log, done, build.dry_run)
    images = _preview_images(source, plan, urls) if settings.preview_file else {}
    if metrics_section:
        body = body.rstrip("\n") + metrics_section

    # One comment: Bitbucket's size limit, with the full report in Downloads when it is cut.
    limit = size.COMMENT_LIMIT - len(marker_line(settings.watermark_title)) - 2
    full_url = None
    if len(body) > limit and settings.publish:
        full = publish.Asset(
            publish.download_name(body.encode(), settings.report_file.name),
            body.encode(),
            "text/markdown",
            "the full report",
        )
        done = publish.upload(client, {full.name: full}, url_for=url_for, dry_run=build.dry_run)
        full_url = done.urls[full.name]
        uploaded += done.uploaded
    body, truncated = size.fit(body, limit, full_url)
    if truncated:
        warn(
            f"REPORT_FILE: the report is longer than Bitbucket accepts in a comment; posted the first part"
            f"{' with a link to the full report' if full_url else ''}"
        )
    raw = add_marker(body, settings.watermark_title)

    result = ReportResult(
        target,
        raw,
        "dry-run",
        uploaded=uploaded,
        reused=reused,
        warnings=warnings,
        insights=report,
        truncated=truncated,
    )
    if settings.preview_file:
        try:
            result.preview = preview.write(settings.preview_file, raw, images)
        except OSError as err:  # e.g. a symlink put in its place since the variables were checked
            raise ConfigError("PREVIEW_FILE", str(settings.preview_file), f"cannot be written ({err})") from None
        log.info(f"Preview: {result.preview[0]} and {result.preview[1]}")

    previous = existing(client, target, settings.watermark_title) if settings.update else None
    insights_commit = insights_commit or (target.sha if isinstance(target, CommitTarget) else build.commit)
    if build.dry_run:
        verb = f"edit comment {previous.id}" if previous else "add a comment"
        log.info(f"DRY_RUN: would {verb} on {target} ({len(raw):,} characters)")
        if report:
            log.info(
                f"DRY_RUN: would put Code Insights report {report.report_id} on commit {insights_commit[:12]}"
                f" (result {report.result or 'none'})"
            )
        return result

    result.comment = post(client, target, raw, previous=previous)
    result.action = "updated" if previous else "created"
    log.info(f"Report {result.action} on {target}: {result.comment.html_url}")
    if report is not None and insights_commit:
        client.put_report(
            insights_commit,
            report.report_id,
            title=report.title,
            details=report.details,
            report_type="TEST",
            result=report.result,
            data=report.data,
            link=result.comment.html_url,
        )
        log.info(
            f"Code Insights report {report.report_id} on commit {insights_commit[:12]}: "
            f"{report.result or 'no thresholds'}"
        )
        failed = [str(o) for o in report.outcomes if not o.passed]
        if failed:
            warn(f"THRESHOLDS not met: {'; '.join(failed)}")
    return result


def run(common: CommonSettings, settings: ReportSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    """The dispatch entry (pipe/pipe.py): the success line, or ConfigError/BitbucketError."""
    result = run_report(settings, common, bitbucket_client(common), log)
    if result.comment is None:
        where = f"; preview in {result.preview[1]}" if result.preview else ""
        return f"DRY_RUN: nothing posted; the report would go to {result.target}{where}"
    return f"Report {result.action} on {result.target}: {result.comment.html_url}"


def post_report(
    client: BitbucketClient, settings: ReportSettings, build: Build, log: Log, pr: PullRequest
) -> ReportResult:
    """For PR mode: the report as a comment on the pull request it just opened (or found).

    Its Code Insights report goes on the PR's head commit: that is the commit Bitbucket shows on the PR.
    """
    return run_report(settings, build, client, log, target=PrTarget(pr.id), pr=pr, insights_commit=pr.source_commit)


def _read_report(path: Path) -> str:
    try:
        return clone_paths.read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("REPORT_FILE", str(path), "the report must be UTF-8 markdown text") from None
    except OSError as err:
        raise ConfigError("REPORT_FILE", str(path), f"cannot be read ({err.strerror})") from None


def _repo_path(path: Path, clone_dir: str | Path) -> str:
    rel = os.path.relpath(path, Path(clone_dir).resolve())
    return path.name if rel.startswith("..") else Path(rel).as_posix()


def _baseline(
    client: BitbucketClient, build: Build, pr: PullRequest | None, path: str, warn: Callable[[str], None]
) -> tuple[dict[str, metrics.Metric] | None, str]:
    """The same metrics file at the destination branch's head, read through the API."""
    branch = pr.destination_branch if pr is not None else client.repository().main_branch
    if not branch:
        return None, "none (no destination branch)"
    head = client.branch_head(branch)
    if head is None:
        return None, f"none (branch `{branch}` not found)"
    if same_commit(head, build.commit):
        return None, f"none (this commit is the head of `{branch}`)"
    where = f"`{path}` on `{branch}` at {head[:12]}"
    content = client.get_file(head, path)
    if content is None:
        return None, f"none (no `{path}` on `{branch}` at {head[:12]})"
    if len(content) > MAX_METRICS_BYTES:
        warn(f"METRICS_FILE: {path} on {branch} is larger than {MAX_METRICS_BYTES:,} bytes; no comparison")
        return None, f"none ({where} is too large)"
    try:
        return metrics.parse(content.decode("utf-8"), path), where
    except (UnicodeDecodeError, metrics.MetricsError) as err:
        warn(f"METRICS_FILE: {path} on {branch} cannot be read ({err}); no comparison")
        return None, f"none ({where} cannot be read)"


def _preview_images(
    source: str, plan: publish.PublishPlan, urls: dict[str, str] | None
) -> dict[str, tuple[bytes, str]]:
    """URL as it appears in the posted markdown -> content, for inlining in the HTML preview."""
    images: dict[str, tuple[bytes, str]] = {}
    for ref in find_refs(source):
        target = plan.refs.get(ref.start)
        if target is None:
            continue
        name = target.split("#", 1)[0]
        asset = plan.assets[name]
        key = urls[name] if urls is not None else ref.url
        images[key] = (asset.content, asset.mime)
    return images


def _log_uploads(log: Log, done: publish.PublishResult, dry_run: bool) -> None:
    if done.uploaded:
        verb = "DRY_RUN: would upload" if dry_run else "Uploaded"
        log.info(f"{verb} {len(done.uploaded)} file(s) to Downloads: {', '.join(done.uploaded)}")
    if done.reused:
        log.info(f"Already in Downloads, not uploaded again: {', '.join(done.reused)}")

"""Report mode's story, in named steps (compose.py, deliver.py): read the report and its metrics, find where it
goes, publish its assets, add the metrics table, fit it into one comment with the invisible marker, write the
preview, then deliver it (DRY_RUN: say what would be delivered). PR mode runs the same story on its PR.

It takes plain values: ReportInputs is what it reads of the report's variables (pipe/config/report.py's
ReportSettings has them), Build what it reads of the build (CommonSettings has them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.models import Comment, PullRequest
from pipe.formats.metrics import Metric
from pipe.formats.target import TargetSpec
from pipe.formats.thresholds import Threshold
from pipe.report import compose, insights, preview
from pipe.report.deliver import deliver
from pipe.report.errors import ReportError
from pipe.report.targets import BuildContext, CommitTarget, LeftPr, PrTarget, Target, resolve_target

DOWNLOAD_URL = "https://bitbucket.org/{workspace}/{repo_slug}/downloads/{{name}}"


class ReportInputs(Protocol):
    """The report's variables, parsed: absolute paths inside the clone, the metrics already read and checked."""

    @property
    def report_file(self) -> Path: ...
    @property
    def target(self) -> TargetSpec: ...
    @property
    def update(self) -> bool: ...
    @property
    def watermark_title(self) -> str: ...
    @property
    def publish(self) -> bool: ...
    @property
    def metrics_file(self) -> Path | None: ...
    @property
    def metrics(self) -> Mapping[str, Metric] | None: ...
    @property
    def thresholds(self) -> tuple[Threshold, ...]: ...
    @property
    def preview_file(self) -> Path | None: ...


class Build(BuildContext, Protocol):
    """What report mode reads about the build: commit, branch, pr_id (BuildContext) and these."""

    @property
    def workspace(self) -> str: ...
    @property
    def repo_slug(self) -> str: ...
    @property
    def clone_dir(self) -> str | Path: ...
    @property
    def dry_run(self) -> bool: ...


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
    inputs: ReportInputs,
    build: Build,
    client: BitbucketClient,
    log: compose.Log,
    *,
    target: Target | None = None,
    pr: PullRequest | None = None,
    insights_commit: str = "",
    left_pr: LeftPr | None = None,
) -> ReportResult:
    """insights_commit: where the Code Insights report goes; default the target commit or the build's.
    left_pr: the PR that PR mode of this pipeline opened (its pr.json), the build's PR for TARGET pr or auto."""
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        log.warning(message)

    source = compose.read_report(inputs.report_file)
    if target is None:
        target, pr, notes = resolve_target(inputs.target, build, client, left_pr)
        for note in notes:
            log.info(note)
    log.info(f"Report {inputs.report_file.name} goes to {target}")

    # Everything that can be refused is read and checked before the first write (an upload, the comment).
    wanted = inputs.publish or inputs.preview_file is not None
    plan = compose.plan_assets(source, inputs.report_file, Path(build.clone_dir), warn) if wanted else None
    section = None
    if inputs.metrics is not None and inputs.metrics_file is not None:
        section = compose.metrics_section(
            client, inputs.metrics, inputs.metrics_file, inputs.thresholds, watermark_title=inputs.watermark_title,
            clone_dir=build.clone_dir, commit=build.commit, pr=pr, warn=warn,
        )  # fmt: skip

    url_for = DOWNLOAD_URL.format(workspace=build.workspace, repo_slug=build.repo_slug)
    published = compose.Published(source)
    if inputs.publish and plan is not None:
        published = compose.publish_assets(client, source, plan, url_for=url_for, dry_run=build.dry_run, log=log)
    elif plan is not None:
        published.images = compose.preview_images(source, plan)
    body = published.body.rstrip("\n") + section.markdown if section else published.body
    comment = compose.fit_comment(
        client, body, report_name=inputs.report_file.name, watermark_title=inputs.watermark_title,
        publish_full=inputs.publish, url_for=url_for, dry_run=build.dry_run, warn=warn,
    )  # fmt: skip
    result = ReportResult(
        target, comment.raw, "dry-run", uploaded=published.uploaded + comment.uploaded, reused=published.reused,
        warnings=warnings, insights=section.insights if section else None, truncated=comment.truncated,
    )  # fmt: skip
    if inputs.preview_file is not None:
        result.preview = _write_preview(inputs.preview_file, comment.raw, published.images)
        log.info(f"Preview: {result.preview[0]} and {result.preview[1]}")

    result.comment, result.action = deliver(
        client, target, comment.raw, result.insights, update=inputs.update, watermark_title=inputs.watermark_title,
        insights_commit=insights_commit or (target.sha if isinstance(target, CommitTarget) else build.commit),
        dry_run=build.dry_run, log=log, warn=warn,
    )  # fmt: skip
    return result


def post_on_pr(
    inputs: ReportInputs, build: Build, client: BitbucketClient, log: compose.Log, pr: PullRequest
) -> ReportResult:
    """PR mode's report: a comment on the pull request it just opened (or found). Its Code Insights report goes
    on the PR's head commit: that is the commit Bitbucket shows on the PR."""
    return run_report(inputs, build, client, log, target=PrTarget(pr.id), pr=pr, insights_commit=pr.source_commit)


def _write_preview(preview_file: Path, raw: str, images: dict[str, tuple[bytes, str]]) -> tuple[Path, Path]:
    try:
        return preview.write(preview_file, raw, images)
    except OSError as err:  # e.g. a symlink put in its place since the variables were checked
        raise ReportError.invalid("PREVIEW_FILE", str(preview_file), f"cannot be written ({err})") from None

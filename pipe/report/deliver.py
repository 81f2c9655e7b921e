"""Delivering the report: the comment (created, or with UPDATE our earlier one edited), then the Code Insights
report on the commit Bitbucket shows; with DRY_RUN, what would be done, and nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pipe.bitbucket.client import BitbucketClient
from pipe.bitbucket.models import Comment
from pipe.report.insights import InsightsReport
from pipe.report.post import existing, post
from pipe.report.targets import Target


class Log(Protocol):
    def info(self, msg: str) -> object: ...


def deliver(
    client: BitbucketClient,
    target: Target,
    raw: str,
    report: InsightsReport | None,
    *,
    update: bool,
    watermark_title: str,
    insights_commit: str,
    dry_run: bool,
    log: Log,
    warn: Callable[[str], None],
) -> tuple[Comment | None, str]:
    """(the comment, "created" | "updated"), or (None, "dry-run") with DRY_RUN."""
    previous = existing(client, target, watermark_title) if update else None
    if dry_run:
        verb = f"edit comment {previous.id}" if previous else "add a comment"
        log.info(f"DRY_RUN: would {verb} on {target} ({len(raw):,} characters)")
        if report:
            log.info(
                f"DRY_RUN: would put Code Insights report {report.report_id} on commit {insights_commit[:12]}"
                f" (result {report.result or 'none'})"
            )
        return None, "dry-run"
    comment = post(client, target, raw, previous=previous)
    action = "updated" if previous else "created"
    log.info(f"Report {action} on {target}: {comment.html_url}")
    if report is not None and insights_commit:
        client.put_report(
            insights_commit,
            report.report_id,
            title=report.title,
            details=report.details,
            report_type="TEST",
            result=report.result,
            data=report.data,
            link=comment.html_url,
        )
        log.info(
            f"Code Insights report {report.report_id} on commit {insights_commit[:12]}: "
            f"{report.result or 'no thresholds'}"
        )
        failed = [str(o) for o in report.outcomes if not o.passed]
        if failed:
            warn(f"THRESHOLDS not met: {'; '.join(failed)}")
    return comment, action

"""COMMAND: report. A training report on the pull request, in place, with images, metrics and a diff.

The story: build the Bitbucket client, then report mode's steps (pipe/report/flow.py): read the report (and
the metrics, if any); find where it goes; upload its local images, files and data to Downloads under
content-addressed names and point the links there; append the metrics table compared with the destination
branch; fit it into one comment with the invisible marker; write the preview; then, unless DRY_RUN, post it
(with UPDATE, edit our earlier comment), put the Code Insights report on the commit, and print the comment's URL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pipe.commands.clients import bitbucket_client
from pipe.commands.shared import FOLDER, read_left
from pipe.config.common import CommonSettings
from pipe.config.report import ReportSettings
from pipe.report.flow import run_report
from pipe.report.targets import LeftPr, parse_left_pr


def run(common: CommonSettings, settings: ReportSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    """The dispatch entry (pipe/pipe.py): the success line, or a PipeError."""
    result = run_report(settings, common, bitbucket_client(common), log, left_pr=_left_pr(common, log))
    if result.comment is None:
        where = f"; preview in {result.preview[1]}" if result.preview else ""
        return f"DRY_RUN: nothing posted; the report would go to {result.target}{where}"
    return f"Report {result.action} on {result.target}: {result.comment.html_url}"


def _left_pr(common: CommonSettings, log: logging.Logger) -> LeftPr | None:
    """The PR that PR mode of this pipeline opened, from the pr.json it left; a pr.json that cannot be read
    is a warning (the target is then found as without it)."""
    text = read_left(common.shared_storage_dir, "pr.json")
    if text is None:
        return None
    try:
        return parse_left_pr(text)
    except ValueError as err:
        log.warning(f"Ignoring pr.json in {common.shared_storage_dir}/{FOLDER}: {err}")
        return None

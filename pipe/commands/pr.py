"""COMMAND: pr. The trained model goes back to the repository as a pull request, through the API (no git push).

The story: build the Bitbucket client, then PR mode's steps (pipe/pr/flow.py): resolve the files and refuse
what the API cannot carry, before any call; find the target, the branch and its open PR; commit only what
changed; open the PR unless one is open already; leave its link for later steps; post the report on it
(pipe/report/flow.py, with REPORT_FILE); merge it when asked. A re-run of the same build opens nothing new.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from pipe.bitbucket.models import PullRequest
from pipe.commands.clients import bitbucket_client
from pipe.commands.shared import leave_for_later_steps
from pipe.config.common import CommonSettings
from pipe.config.pr import PrSettings
from pipe.pr.flow import run_pr
from pipe.report.flow import post_on_pr


def run(common: CommonSettings, settings: PrSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    """The dispatch entry (pipe/pipe.py): the success line, or a PipeError."""
    client = bitbucket_client(common)
    report = settings.report

    def opened(pr: PullRequest, branch: str, commit: str | None) -> None:
        """Leave the PR for later steps: pr.json and pr_url (the link alone); a failed write is a warning."""
        record = {
            "id": pr.id,
            "url": pr.html_url,
            "branch": branch,
            "target": pr.destination_branch,
            "commit": commit,
            "build_commit": common.commit,
        }
        outputs = {"pr.json": json.dumps(record, indent=2) + "\n", "pr_url": pr.html_url + "\n"}
        leave_for_later_steps(common.shared_storage_dir, outputs, log)

    result = run_pr(
        settings,
        common,
        client,
        log,
        report_file=report.report_file if report else None,
        post_report=(lambda pr: post_on_pr(report, common, client, log, pr)) if report else None,
        opened=opened,
    )
    if common.dry_run:
        return f"DRY_RUN: nothing changed; the plan above would {result.action.value.replace('_', ' ')}"
    if result.pr is None:
        return "Nothing to commit: the files are unchanged or already on the target branch; no PR opened"
    merged = f", merged ({settings.merge})" if result.merged else ""
    return f"PR #{result.pr.id}{merged}: {result.pr.html_url}"

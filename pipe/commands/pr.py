"""COMMAND: pr. The trained model goes back to the repository as a pull request, through the API (no git push).

The story: resolve the files and refuse what the API cannot carry, before any call; find the target, the
branch and its open PR; commit only what changed (onto a new branch from the build's commit, or on top of
the existing branch); open the PR unless one is open already; leave its link for later steps; post the
report on it; merge it when asked. A re-run of the same build finds its branch and PR and opens nothing new.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from pipe import paths as clone_paths
from pipe.bitbucket.client import BitbucketClient, BitbucketError
from pipe.bitbucket.models import PullRequest
from pipe.commands import report as report_mode
from pipe.commands.clients import bitbucket_client
from pipe.commands.shared import leave_for_later_steps
from pipe.config import report as report_config
from pipe.config.common import CommonSettings
from pipe.config.pr import PrSettings
from pipe.pr import PrError, files
from pipe.pr.plan import Action, Names, decide, names
from pipe.report import size


class Log(Protocol):
    def info(self, msg: str) -> object: ...
    def warning(self, msg: str) -> object: ...


# Report mode's entry for "post this report on that PR"; given by the dispatcher when REPORT_FILE is set.
PostReport = Callable[[PullRequest], object]


@dataclass(frozen=True)
class PrResult:
    action: Action
    branch: str
    pr: PullRequest | None = None  # None only when there was nothing to do
    commit: str | None = None  # the commit made by this run, if any
    merged: bool = False


def run(common: CommonSettings, settings: PrSettings, *, log: logging.Logger, env: Mapping[str, str]) -> str:
    """The dispatch entry (pipe/pipe.py): the success line, or PrError/ConfigError/BitbucketError."""
    client = bitbucket_client(common)
    post_report = _report_poster(common, settings, client, log, env) if settings.report_file else None
    result = run_pr(settings, common, client, log, post_report)
    if common.dry_run:
        return f"DRY_RUN: nothing changed; the plan above would {result.action.value.replace('_', ' ')}"
    if result.pr is None:
        return "Nothing to commit: the files are unchanged or already on the target branch; no PR opened"
    merged = f", merged ({settings.merge})" if result.merged else ""
    return f"PR #{result.pr.id}{merged}: {result.pr.html_url}"


def _report_poster(
    common: CommonSettings, settings: PrSettings, client: BitbucketClient, log: logging.Logger, env: Mapping[str, str]
) -> PostReport:
    """Report mode posts the report on the PR, editing its own earlier comment on a re-run (one report per PR)."""
    report_settings = replace(report_config.load(env), update=True)  # checked before anything is created
    return lambda pr: report_mode.post_report(client, report_settings, common, log, pr)


def run_pr(
    settings: PrSettings,
    common: CommonSettings,
    client: BitbucketClient,
    log: Log,
    post_report: PostReport | None = None,
) -> PrResult:
    if settings.report_file and post_report is None:
        raise PrError("REPORT_FILE: posting the report on the PR needs report mode, which is not available")
    clone_dir = Path(common.clone_dir)
    local = files.collect(settings.files, clone_dir)
    files.check_size(local)
    report = _read_report(settings.report_file) if settings.report_file else None
    target = settings.target_branch or common.branch
    if not target:
        raise PrError("TARGET_BRANCH: this build has no branch (BITBUCKET_BRANCH is empty); set TARGET_BRANCH")
    commit_url = f"https://bitbucket.org/{common.workspace}/{common.repo_slug}/commits/{common.commit}"
    n = names(settings, target=target, commit=common.commit, commit_url=commit_url, report=report)
    if n.branch == n.target:
        raise PrError(f"BRANCH: {n.branch!r} is the target branch; the PR needs a branch of its own")
    content = files.read(local)

    target_head = client.branch_head(n.target)
    if target_head is None:
        raise PrError(f"TARGET_BRANCH: branch {n.target!r} does not exist in {common.workspace}/{common.repo_slug}")
    branch_head = client.branch_head(n.branch)
    parent = branch_head or common.commit
    changed = _changed(client, parent, content)
    open_pr = next(iter(client.list_pull_requests(source_branch=n.branch, state="OPEN")), None)
    on_target = False
    if open_pr is None:
        # Already on the target (a re-run after MERGE, say): a new PR would propose nothing.
        on_target = not changed if target_head == parent else not _changed(client, target_head, content)
    action = decide(
        branch_exists=branch_head is not None, changed=bool(changed), pr_open=open_pr is not None, on_target=on_target
    )
    log.info(_describe(action, n, parent, changed, open_pr, settings))
    if common.dry_run or action is Action.NOTHING:
        return PrResult(action=action, branch=n.branch)

    commit = None
    if action is Action.COMMIT:
        commit = client.commit_files(
            branch=n.branch, parent=parent, message=n.message, author=settings.author, files=changed
        )
        log.info(f"Committed {', '.join(changed)} to {n.branch} as {commit[:12]}")
    pr = open_pr or client.create_pull_request(
        title=n.title,
        description=n.description,
        source_branch=n.branch,
        destination_branch=n.target,
        close_source_branch=settings.close_source_branch,
    )
    if open_pr is not None and open_pr.destination_branch != n.target:
        log.warning(f"PR #{pr.id} from {n.branch} merges into {pr.destination_branch}, not {n.target}; kept as is")
    log.info(f"{'Opened' if open_pr is None else 'Using'} PR #{pr.id}: {pr.html_url}")
    _write_output(common.shared_storage_dir, pr, n.branch, commit, log)
    if post_report is not None:
        post_report(pr)
    if settings.merge is None:
        return PrResult(action=action, branch=n.branch, pr=pr, commit=commit)
    try:
        merged = client.merge_pull_request(pr.id, strategy=settings.merge)
    except BitbucketError as err:
        raise PrError(
            f"MERGE: Bitbucket refused to merge PR #{pr.id} with {settings.merge} ({err}); "
            f"the PR stays open: {pr.html_url}"
        ) from None
    log.info(f"Merged PR #{pr.id} into {pr.destination_branch} ({settings.merge})")
    return PrResult(action=action, branch=n.branch, pr=merged, commit=commit, merged=True)


def _read_report(path: Path) -> str:
    """The PR's description: the report, cut at a line (with a note) where it would be too long for Bitbucket."""
    try:
        text = clone_paths.read_bytes(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PrError(f"REPORT_FILE: cannot read {path} ({err})") from None
    return size.fit(text, size.COMMENT_LIMIT)[0]


def _changed(client: BitbucketClient, commit: str, content: dict[str, bytes]) -> dict[str, bytes]:
    """The files whose bytes differ from (or are missing in) `commit`."""
    return {path: data for path, data in content.items() if client.get_file(commit, path) != data}


def _describe(
    action: Action, n: Names, parent: str, changed: dict[str, bytes], pr: PullRequest | None, s: PrSettings
) -> str:
    if action is Action.NOTHING:
        return f"Nothing to commit: the files are unchanged or already on {n.target}; no PR opened"
    if action is Action.KEEP_PR:
        return f"Nothing new to commit: {n.branch} already holds the files; its PR stays #{pr.id if pr else '?'}"
    if action is Action.OPEN_PR:
        return f"{n.branch} already holds the files; opening a PR into {n.target}"
    merge = f", then merge ({s.merge})" if s.merge else ""
    return (
        f"Plan: commit {len(changed)} file(s) ({', '.join(changed)}) to {n.branch} on {parent[:12]}, "
        f"PR into {n.target} titled {n.title!r}{merge}"
    )


def _write_output(shared_dir: str, pr: PullRequest, branch: str, commit: str | None, log: Log) -> None:
    """Leave the PR for later steps: pr.json and pr_url (the link alone)."""
    record = {"id": pr.id, "url": pr.html_url, "branch": branch, "target": pr.destination_branch, "commit": commit}
    files = {"pr.json": json.dumps(record, indent=2) + "\n", "pr_url": pr.html_url + "\n"}
    leave_for_later_steps(shared_dir, files, log)

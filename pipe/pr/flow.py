"""PR mode's story: resolve the files and refuse what the API cannot carry, before any call; find the target,
the branch and its open PR; commit only what changed (onto a new branch from the build's commit, or on top of
the existing branch); open the PR unless one is open already; post the report on it; merge it when asked. A
re-run of the same build finds its branch and PR and opens nothing new.

It takes plain values: PrInputs is what it reads of PR mode's variables (pipe/config/pr.py's PrSettings has
them), Build what it reads of the build (CommonSettings has them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipe import paths as clone_paths
from pipe.bitbucket.client import BitbucketClient, BitbucketError
from pipe.bitbucket.models import MergeStrategy, PullRequest
from pipe.pr import PrError, dvc_outputs, files
from pipe.pr.plan import Action, Names, decide, is_own_branch, names
from pipe.report import size

# Posting the report on the PR (pipe/report/flow.py post_on_pr), when REPORT_FILE is given.
PostReport = Callable[[PullRequest], object]


class PrInputs(Protocol):
    @property
    def files(self) -> tuple[str, ...]: ...
    @property
    def branch(self) -> str: ...
    @property
    def target_branch(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def skip_ci(self) -> bool: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def close_source_branch(self) -> bool: ...
    @property
    def merge(self) -> MergeStrategy | None: ...
    @property
    def author(self) -> str: ...


class Build(Protocol):
    @property
    def workspace(self) -> str: ...
    @property
    def repo_slug(self) -> str: ...
    @property
    def commit(self) -> str: ...
    @property
    def branch(self) -> str: ...
    @property
    def clone_dir(self) -> str: ...
    @property
    def dry_run(self) -> bool: ...


class Log(Protocol):
    def info(self, msg: str) -> object: ...
    def warning(self, msg: str) -> object: ...


@dataclass(frozen=True)
class PrResult:
    action: Action
    branch: str
    pr: PullRequest | None = None  # None only when there was nothing to do
    commit: str | None = None  # the commit made by this run, if any
    merged: bool = False


def run_pr(
    inputs: PrInputs,
    build: Build,
    client: BitbucketClient,
    log: Log,
    *,
    report_file: Path | None = None,
    post_report: PostReport | None = None,
    opened: Callable[[PullRequest, str, str | None], None] = lambda pr, branch, commit: None,
) -> PrResult:
    """report_file: the PR's description (REPORT_FILE); post_report posts it on the PR too. opened(pr, branch,
    commit) is told about the PR before the report is posted (the command leaves it for later steps)."""
    local = dvc_outputs.keep_data_out(files.collect(inputs.files, Path(build.clone_dir)), Path(build.clone_dir), log)
    files.check_size(local)
    report = _read_report(report_file) if report_file else None
    target = inputs.target_branch or build.branch
    if not target:
        raise PrError("TARGET_BRANCH: this build has no branch (BITBUCKET_BRANCH is empty); set TARGET_BRANCH")
    _refuse_own_branch(build.branch, inputs.target_branch)
    commit_url = f"https://bitbucket.org/{build.workspace}/{build.repo_slug}/commits/{build.commit}"
    n = names(
        target=target, commit=build.commit, commit_url=commit_url, report=report, branch=inputs.branch,
        message=inputs.message, skip_ci=inputs.skip_ci, title=inputs.title, description=inputs.description,
    )  # fmt: skip
    if n.branch == n.target:
        raise PrError(f"BRANCH: {n.branch!r} is the target branch; the PR needs a branch of its own")
    content = files.read(local)

    target_head = client.branch_head(n.target)
    if target_head is None:
        raise PrError(f"TARGET_BRANCH: branch {n.target!r} does not exist in {build.workspace}/{build.repo_slug}")
    branch_head = client.branch_head(n.branch)
    parent = branch_head or build.commit
    changed = _changed(client, parent, content)
    open_pr = next(iter(client.list_pull_requests(source_branch=n.branch, state="OPEN")), None)
    on_target = False
    if open_pr is None:
        # Already on the target (a re-run after MERGE, say): a new PR would propose nothing.
        on_target = not changed if target_head == parent else not _changed(client, target_head, content)
    action = decide(
        branch_exists=branch_head is not None, changed=bool(changed), pr_open=open_pr is not None, on_target=on_target
    )
    log.info(_describe(action, n, parent, changed, open_pr, inputs.merge))
    if build.dry_run or action is Action.NOTHING:
        return PrResult(action=action, branch=n.branch)

    commit = None
    if action is Action.COMMIT:
        commit = client.commit_files(
            branch=n.branch, parent=parent, message=n.message, author=inputs.author, files=changed
        )
        log.info(f"Committed {', '.join(changed)} to {n.branch} as {commit[:12]}")
    pr = open_pr or client.create_pull_request(
        title=n.title,
        description=n.description,
        source_branch=n.branch,
        destination_branch=n.target,
        close_source_branch=inputs.close_source_branch,
    )
    if open_pr is not None and open_pr.destination_branch != n.target:
        log.warning(f"PR #{pr.id} from {n.branch} merges into {pr.destination_branch}, not {n.target}; kept as is")
    log.info(f"{'Opened' if open_pr is None else 'Using'} PR #{pr.id}: {pr.html_url}")
    opened(pr, n.branch, commit)
    if post_report is not None:
        post_report(pr)
    if inputs.merge is None:
        return PrResult(action=action, branch=n.branch, pr=pr, commit=commit)
    try:
        merged = client.merge_pull_request(pr.id, strategy=inputs.merge)
    except BitbucketError as err:
        raise PrError(
            f"MERGE: Bitbucket refused to merge PR #{pr.id} with {inputs.merge} ({err}); "
            f"the PR stays open: {pr.html_url}"
        ) from None
    log.info(f"Merged PR #{pr.id} into {pr.destination_branch} ({inputs.merge})")
    return PrResult(action=action, branch=n.branch, pr=merged, commit=commit, merged=True)


def _refuse_own_branch(build_branch: str, target_branch: str) -> None:
    """A build on a branch PR mode opened (its push started this pipeline) would open a PR of the PR, and its
    push another pipeline: a chain. Refused before any call, whatever SKIP_CI says."""
    for variable, branch in (("BITBUCKET_BRANCH", build_branch), ("TARGET_BRANCH", target_branch)):
        if is_own_branch(branch):
            raise PrError(
                f"{variable}: {branch!r} is a branch PR mode opened (<target>-cml-pr-<commit>); PR mode does not "
                "start from its own PRs (a PR of the PR, then another pipeline): run it on your own branches "
                "only, e.g. under `branches: main`"
            )


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
    action: Action, n: Names, parent: str, changed: dict[str, bytes], pr: PullRequest | None, merge: str | None
) -> str:
    if action is Action.NOTHING:
        return f"Nothing to commit: the files are unchanged or already on {n.target}; no PR opened"
    if action is Action.KEEP_PR:
        return f"Nothing new to commit: {n.branch} already holds the files; its PR stays #{pr.id if pr else '?'}"
    if action is Action.OPEN_PR:
        return f"{n.branch} already holds the files; opening a PR into {n.target}"
    then = f", then merge ({merge})" if merge else ""
    return (
        f"Plan: commit {len(changed)} file(s) ({', '.join(changed)}) to {n.branch} on {parent[:12]}, "
        f"PR into {n.target} titled {n.title!r}{then}"
    )

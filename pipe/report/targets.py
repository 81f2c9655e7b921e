"""TARGET: where the report goes. Parsing is pure; resolution asks Bitbucket as little as it can.

After PR mode in the same pipeline, the build's PR is the one PR mode opened: PR mode leaves it in pr.json
(pipe/commands/pr.py), and its source is PR mode's branch, not the build's commit or branch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from pipe.bitbucket.client import BitbucketError, UnexpectedAnswer
from pipe.bitbucket.models import PullRequest
from pipe.formats.target import TargetSpec, pr_mode_branch
from pipe.report.errors import ReportError


@dataclass(frozen=True)
class PrTarget:
    id: int

    def __str__(self) -> str:
        return f"pull request #{self.id}"


@dataclass(frozen=True)
class CommitTarget:
    sha: str

    def __str__(self) -> str:
        return f"commit {self.sha[:12]}"


Target = PrTarget | CommitTarget


class BuildContext(Protocol):
    """What report mode reads from the build (CommonSettings has these)."""

    @property
    def commit(self) -> str: ...
    @property
    def branch(self) -> str: ...
    @property
    def pr_id(self) -> int | None: ...


class PullRequestFinder(Protocol):
    def pull_requests_for_commit(self, commit: str) -> list[PullRequest]: ...
    def list_pull_requests(self, *, source_branch: str | None = None, state: str = "OPEN") -> Iterator[PullRequest]: ...
    def get_pull_request(self, pr_id: int) -> PullRequest: ...


@dataclass(frozen=True)
class LeftPr:
    """What PR mode left in pr.json: the PR it opened (or found) for this build, and its source branch."""

    id: int
    branch: str
    build_commit: str  # the build PR mode ran for: a pr.json of another build is not this build's PR


def parse_left_pr(text: str) -> LeftPr:
    """pr.json's fields; raises ValueError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise ValueError(f"not JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    pr_id, branch, build_commit = data.get("id"), data.get("branch"), data.get("build_commit")
    if not (isinstance(pr_id, int) and not isinstance(pr_id, bool) and pr_id > 0):
        raise ValueError(f"id {pr_id!r} is not a pull request id")
    if not (isinstance(branch, str) and branch and isinstance(build_commit, str) and build_commit):
        raise ValueError("branch or build_commit is missing")
    return LeftPr(pr_id, branch, build_commit)


def _pr_mode_branch(context: BuildContext) -> str:
    """The source branch PR mode names for this build when BRANCH and TARGET_BRANCH are unset."""
    return pr_mode_branch(context.branch, context.commit) if context.branch and context.commit else ""


def _left_by_pr_mode(
    context: BuildContext, client: PullRequestFinder, left: LeftPr | None, notes: list[str]
) -> PullRequest | None:
    """The open PR PR mode left for this build: pr.json's id, else an open PR from pr.json's branch."""
    if left is None:
        return None
    if not same_commit(left.build_commit, context.commit):
        notes.append(f"pr.json is from build commit {left.build_commit[:12]}, not this one; ignored")
        return None
    try:
        pr = client.get_pull_request(left.id)
    except UnexpectedAnswer:
        raise
    except BitbucketError as err:
        if err.status != 404:
            raise
        pr = None
    if pr is not None and pr.state == "OPEN" and pr.source_branch == left.branch:
        notes.append(f"pull request #{pr.id} is the one PR mode opened for this build (pr.json)")
        return pr
    for found in client.list_pull_requests(source_branch=left.branch, state="OPEN"):
        notes.append(f"pull request #{found.id} is the open one from {left.branch}, PR mode's branch (pr.json)")
        return found
    notes.append(f"pr.json names pull request #{left.id} from {left.branch}, which is no longer open")
    return None


def find_build_pr(
    context: BuildContext, client: PullRequestFinder, left: LeftPr | None = None
) -> tuple[PullRequest | None, list[str]]:
    """The build's PR: the one PR mode opened for this build (its pr.json), else BITBUCKET_PR_ID, else an open
    PR whose source is this commit, else this branch, else PR mode's default branch for this build."""
    notes: list[str] = []
    opened = _left_by_pr_mode(context, client, left, notes)
    if opened is not None:
        return opened, notes
    if context.pr_id:
        return _get_pr(client, context.pr_id, "pr"), notes
    if context.commit:
        try:
            prs = [p for p in client.pull_requests_for_commit(context.commit) if p.state == "OPEN"]
        except UnexpectedAnswer:
            raise  # a malformed answer, or a link to another host: not "this listing is unavailable"
        except BitbucketError as err:
            # Bitbucket answers this only once the "Pull Request Commit Links" app is installed for the repo.
            notes.append(f"could not list pull requests for commit {context.commit[:12]} ({err}); trying the branch")
            prs = []
        if prs:
            head = [p for p in prs if p.source_commit and same_commit(p.source_commit, context.commit)]
            same_branch = [p for p in prs if p.source_branch == context.branch]
            return (head or same_branch or prs)[0], notes
    for branch in (context.branch, _pr_mode_branch(context)):
        if branch:
            for pr in client.list_pull_requests(source_branch=branch, state="OPEN"):
                return pr, notes
    return None, notes


def resolve_target(
    spec: TargetSpec, context: BuildContext, client: PullRequestFinder, left: LeftPr | None = None
) -> tuple[Target, PullRequest | None, list[str]]:
    """The target, the PR behind it (for the metrics diff's destination branch) and notes for the log.
    left: what PR mode of this pipeline left in pr.json, if anything."""
    if spec.kind == "pr" and spec.pr_id is not None:
        return PrTarget(spec.pr_id), _get_pr(client, spec.pr_id, spec.text), []
    if spec.kind == "commit":
        sha = spec.commit or context.commit
        if not sha:
            raise ReportError.invalid(
                "TARGET", spec.text, "the build has no commit (BITBUCKET_COMMIT); use commit/<sha>"
            )
        return CommitTarget(sha), None, []
    pr, notes = find_build_pr(context, client, left)
    if pr is not None:
        return PrTarget(pr.id), pr, notes
    if spec.kind == "pr":
        raise ReportError.invalid(
            "TARGET",
            spec.text,
            f"no open pull request has commit {context.commit[:12] or '?'} or branch {context.branch or '?'} "
            f"(or PR mode's {_pr_mode_branch(context) or '<branch>-cml-pr-<commit>'}) as its source, and PR mode "
            "left none (pr.json); use pr/<id>, commit, or auto (falls back to a commit comment)",
        )
    if not context.commit:
        raise ReportError.invalid(
            "TARGET", spec.text, "no pull request found and the build has no commit (BITBUCKET_COMMIT)"
        )
    return CommitTarget(context.commit), None, notes


def _get_pr(client: PullRequestFinder, pr_id: int, text: str) -> PullRequest:
    try:
        return client.get_pull_request(pr_id)
    except BitbucketError as err:
        if err.status == 404:
            why = f"pull request #{pr_id} does not exist in this repository"
            raise ReportError.invalid("TARGET", text, why) from err
        raise


def same_commit(a: str, b: str) -> bool:
    """Bitbucket abbreviates hashes in some PR payloads (12 characters): compare on the shorter."""
    n = min(len(a), len(b))
    return n >= 7 and a[:n].lower() == b[:n].lower()

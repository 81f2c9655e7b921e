"""TARGET: where the report goes. Parsing is pure; resolution asks Bitbucket as little as it can."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from pipe.bitbucket.client import BitbucketError, UnexpectedAnswer
from pipe.bitbucket.models import PullRequest
from pipe.config.variables import ConfigError

ALLOWED = "one of auto, pr, commit, pr/<id>, commit/<sha>"
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


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


@dataclass(frozen=True)
class TargetSpec:
    kind: Literal["auto", "pr", "commit"]
    pr_id: int | None = None
    commit: str | None = None
    text: str = "auto"  # as the user wrote it, for messages


def parse_target(value: str) -> TargetSpec:
    text = value.strip() or "auto"
    low = text.lower()
    if low in ("auto", "pr", "commit"):
        return TargetSpec(low, text=text)  # type: ignore[arg-type]  # one of the literals, checked above
    kind, _, arg = low.partition("/")
    if kind == "pr" and arg.isdigit() and int(arg) > 0:
        return TargetSpec("pr", pr_id=int(arg), text=text)
    if kind == "commit" and _SHA.match(arg):
        return TargetSpec("commit", commit=arg, text=text)
    raise ConfigError("TARGET", value, ALLOWED)


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


def find_build_pr(context: BuildContext, client: PullRequestFinder) -> tuple[PullRequest | None, list[str]]:
    """The build's PR: BITBUCKET_PR_ID, else an open PR whose source is this commit, else this branch."""
    notes: list[str] = []
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
    if context.branch:
        for pr in client.list_pull_requests(source_branch=context.branch, state="OPEN"):
            return pr, notes
    return None, notes


def resolve_target(
    spec: TargetSpec, context: BuildContext, client: PullRequestFinder
) -> tuple[Target, PullRequest | None, list[str]]:
    """The target, the PR behind it (for the metrics diff's destination branch) and notes for the log."""
    if spec.kind == "pr" and spec.pr_id is not None:
        return PrTarget(spec.pr_id), _get_pr(client, spec.pr_id, spec.text), []
    if spec.kind == "commit":
        sha = spec.commit or context.commit
        if not sha:
            raise ConfigError("TARGET", spec.text, "the build has no commit (BITBUCKET_COMMIT); use commit/<sha>")
        return CommitTarget(sha), None, []
    pr, notes = find_build_pr(context, client)
    if pr is not None:
        return PrTarget(pr.id), pr, notes
    if spec.kind == "pr":
        raise ConfigError(
            "TARGET",
            spec.text,
            f"no open pull request has commit {context.commit[:12] or '?'} or branch {context.branch or '?'} as its "
            "source; use pr/<id>, commit, or auto (falls back to a commit comment)",
        )
    if not context.commit:
        raise ConfigError("TARGET", spec.text, "no pull request found and the build has no commit (BITBUCKET_COMMIT)")
    return CommitTarget(context.commit), None, notes


def _get_pr(client: PullRequestFinder, pr_id: int, text: str) -> PullRequest:
    try:
        return client.get_pull_request(pr_id)
    except BitbucketError as err:
        if err.status == 404:
            raise ConfigError("TARGET", text, f"pull request #{pr_id} does not exist in this repository") from err
        raise


def same_commit(a: str, b: str) -> bool:
    """Bitbucket abbreviates hashes in some PR payloads (12 characters): compare on the shorter."""
    n = min(len(a), len(b))
    return n >= 7 and a[:n].lower() == b[:n].lower()

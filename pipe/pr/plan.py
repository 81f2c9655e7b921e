"""Names and decisions of PR mode, on plain data: defaults after `cml pr create`, and what a re-run does."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pipe.formats.target import is_pr_mode_branch, pr_mode_branch

SKIP_CI = "[skip ci]"
# The two labels Bitbucket Pipelines honours in the message of a push's head commit, whether the commit was made
# in Bitbucket (the UI) or pushed from git: no pipeline starts for it. Atlassian KB "How to skip triggering an
# automatic pipeline build using Skip CI label" (confluence.atlassian.com/bbkb/how-to-skip-triggering-a-pipeline-
# build-using-skip-ci-label-1207188270.html); "Pipeline start conditions". A POST /src commit is a one-commit
# push to its branch, so its own message decides.
SKIP_LABELS = (SKIP_CI, "[ci skip]")


def is_own_branch(name: str) -> bool:
    """A branch PR mode named itself (`<target>-cml-pr-<sha8>`): a PR mode run on it would open a PR of the PR."""
    return is_pr_mode_branch(name)


@dataclass(frozen=True)
class Names:
    target: str  # the PR's destination branch
    branch: str  # the PR's source branch
    message: str  # the commit message
    title: str
    description: str


def names(
    *,
    target: str,
    commit: str,
    commit_url: str,
    report: str | None,
    branch: str = "",
    message: str = "",
    skip_ci: bool = True,
    title: str = "",
    description: str = "",
) -> Names:
    """CML's defaults (`<target>-cml-pr-<sha8>`, `CML PR for <target> <sha8>`, ...) for what BRANCH, MESSAGE,
    TITLE and DESCRIPTION leave empty.

    `report` is the content of REPORT_FILE: when given, it is the PR's description.
    """
    sha8 = commit[:8]
    message = message or f"CML PR for {sha8}"
    if skip_ci and not any(label in message for label in SKIP_LABELS):
        message = f"{message} {SKIP_CI}"
    description = description or f"Automated commits for {commit_url} created by CML Runner."
    return Names(
        target=target,
        branch=branch or pr_mode_branch(target, commit),
        message=message,
        title=title or f"CML PR for {target} {sha8}",
        description=report if report is not None else description,
    )


class Action(Enum):
    """What PR mode does, decided from what the repository already holds."""

    NOTHING = "nothing"  # no open PR, and the files are unchanged or already on the target: nothing to do
    OPEN_PR = "open_pr"  # the branch already holds the files, without an open PR: open one
    KEEP_PR = "keep_pr"  # the branch already holds the files and its PR is open: return that PR (a re-run)
    COMMIT = "commit"  # commit the changed files (onto a new branch, or on top of the existing one)


def decide(*, branch_exists: bool, changed: bool, pr_open: bool, on_target: bool) -> Action:
    """`changed`: the files differ from the branch's head (when the branch exists) or from the build's commit.

    `on_target`: the target branch already holds these exact files (after a merged run, say); only
    looked at when no PR is open, since then a new PR would propose nothing.
    """
    if pr_open:
        return Action.COMMIT if changed else Action.KEEP_PR
    if on_target:
        return Action.NOTHING
    if changed:
        return Action.COMMIT
    return Action.OPEN_PR if branch_exists else Action.NOTHING

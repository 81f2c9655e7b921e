"""Naming defaults (after `cml pr create`) and the re-run decision, on plain data."""

from __future__ import annotations

import pytest

from pipe.pr.plan import Action, decide, is_own_branch, names

SHA = "0123456789abcdef0123456789abcdef01234567"
URL = "https://bitbucket.org/acme/ml-seeds/commits/" + SHA


def test_defaults_follow_cml() -> None:
    n = names(target="main", commit=SHA, commit_url=URL, report=None)
    assert n.target == "main"
    assert n.branch == "main-cml-pr-01234567"
    assert n.title == "CML PR for main 01234567"
    assert n.message == "CML PR for 01234567 [skip ci]"  # SKIP_CI is on by default
    assert n.description == f"Automated commits for {URL} created by CML Runner."


def test_variables_override_and_skip_ci_is_appended_once() -> None:
    n = names(
        target="develop", commit=SHA, commit_url=URL, report=None,
        branch="model", message="New model", skip_ci=True, title="T", description="D",
    )  # fmt: skip
    assert (n.branch, n.message, n.title, n.description) == ("model", "New model [skip ci]", "T", "D")
    already = names(target="main", commit=SHA, commit_url=URL, report=None, message="Already [skip ci]", skip_ci=True)
    assert already.message == "Already [skip ci]"


def test_report_is_the_description() -> None:
    n = names(target="main", commit=SHA, commit_url=URL, report="# Report", description="ignored")
    assert n.description == "# Report"


@pytest.mark.parametrize(
    ("branch_exists", "changed", "pr_open", "on_target", "action"),
    [
        (False, True, False, False, Action.COMMIT),  # first run
        (True, True, True, False, Action.COMMIT),  # the branch and its PR exist, new content: commit on top
        (True, True, False, False, Action.COMMIT),  # a stale branch without a PR: commit on top, open one
        (True, False, True, False, Action.KEEP_PR),  # a re-run: the same PR, nothing new
        (True, False, False, False, Action.OPEN_PR),  # an earlier run committed but did not get to open the PR
        (False, False, False, False, Action.NOTHING),  # the files already match the build's commit
        (False, True, False, True, Action.NOTHING),  # a re-run after MERGE removed the branch
        (True, False, False, True, Action.NOTHING),  # a re-run after MERGE kept the branch
        (True, True, True, True, Action.COMMIT),  # an open PR gets new content whatever the target holds
        (True, False, True, True, Action.KEEP_PR),
    ],
)
def test_decide(branch_exists: bool, changed: bool, pr_open: bool, on_target: bool, action: Action) -> None:
    assert decide(branch_exists=branch_exists, changed=changed, pr_open=pr_open, on_target=on_target) is action


def test_skip_ci_off_and_either_label_already_there() -> None:
    assert names(target="main", commit=SHA, commit_url=URL, report=None, skip_ci=False).message == "CML PR for 01234567"
    other = names(target="main", commit=SHA, commit_url=URL, report=None, message="Model [ci skip]")
    assert other.message == "Model [ci skip]"  # Bitbucket honours both labels: one is enough


@pytest.mark.parametrize(
    ("branch", "ours"),
    [
        ("main-cml-pr-01234567", True),
        ("release/2.0-cml-pr-89abcdef", True),
        ("main", False),
        ("cml-pr-01234567", False),  # nothing before it: not a name PR mode gives
        ("main-cml-pr-0123456", False),
        ("main-cml-pr-01234567-fix", False),
        ("feature-cml-pr-notes", False),
    ],
)
def test_own_branch_is_the_name_pr_mode_gives(branch: str, ours: bool) -> None:
    assert is_own_branch(branch) is ours
    assert is_own_branch(names(target="main", commit=SHA, commit_url=URL, report=None).branch)

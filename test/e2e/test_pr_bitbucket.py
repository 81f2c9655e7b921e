"""PR mode against the local Bitbucket over real HTTP: set variables, run the mode, look at the repository.

Most tests run the mode in-process through the same path as pipe/pipe.py (common settings, PR settings,
pipe.commands.pr.run); the ones about what a user sees (exit code, the one line, the link for later
steps) run the real entry point in a child process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import output_lines, run_pipe

from pipe.bitbucket.client import BitbucketClient, BitbucketError
from pipe.commands import pr as pr_command
from pipe.config import pr as pr_config
from pipe.config.common import load as load_common
from pipe.config.pr import DEFAULT_AUTHOR
from pipe.pr import PrError
from pipe.pr.files import MAX_COMMIT_BYTES

SRC_POST = "POST /repositories/{workspace}/{repo_slug}/src"
README = b"# ml-seeds\n\nSeed repository for CML Runner tests.\n"
BINARY = bytes(range(256)) * 4 + b"\r\n\x00\x1a end"  # every byte value, CRLF, NUL, ^Z: nothing may be translated
RunMode = Callable[..., str]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The build's clone after training: a binary model, nested metrics, plots."""
    root = tmp_path / "clone"
    for rel, data in {
        "README.md": README,
        "model/random_forest.joblib": BINARY,
        "metrics/eval/scores.json": b'{"accuracy": 0.93}\n',
        "metrics/eval/deep/confusion.json": b"[[5, 1], [0, 6]]\n",
        "metrics/train.log": b"not matched by the json glob\n",
        "plots/roc.png": b"\x89PNG\r\n\x1a\n" + bytes(range(32)),
        "report.md": b"# Training report\n\naccuracy 0.93\n",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def env(bb_env: dict[str, str], clone: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **bb_env,
        "COMMAND": "pr",
        "BITBUCKET_CLONE_DIR": str(clone),
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared"),
    }


@pytest.fixture
def run_mode(env: dict[str, str]) -> RunMode:
    """PR mode in-process, as pipe/pipe.py dispatches it; variables on top of the build's environment."""

    def run(**variables: str) -> str:
        full = {**env, **variables}
        common = load_common(full)
        settings = pr_config.load(full)
        return pr_command.run(common, settings, log=logging.getLogger("test.pr"), env=full)

    return run


def build_commit(env: Mapping[str, str]) -> str:
    return env["BITBUCKET_COMMIT"]


def default_branch(env: Mapping[str, str]) -> str:
    return f"main-cml-pr-{build_commit(env)[:8]}"


def test_commits_text_binary_globs_and_nested_paths_and_opens_the_pr(
    bitbucket: FakeBitbucket, env: dict[str, str], run_mode: RunMode, tmp_path: Path
) -> None:
    line = run_mode(FILES="model/*.joblib metrics/**/*.json plots")

    repo = bitbucket.repo()
    sha = build_commit(env)
    branch = default_branch(env)
    assert sorted(repo.branches) == ["main", branch]
    head = repo.commits[repo.branches[branch]]
    assert head.parents == [sha]
    assert head.tree == {
        "README.md": README,
        "model/random_forest.joblib": BINARY,
        "metrics/eval/scores.json": b'{"accuracy": 0.93}\n',
        "metrics/eval/deep/confusion.json": b"[[5, 1], [0, 6]]\n",
        "plots/roc.png": b"\x89PNG\r\n\x1a\n" + bytes(range(32)),
    }
    assert head.message == f"CML PR for {sha[:8]} [skip ci]"
    assert head.author == DEFAULT_AUTHOR
    assert repo.branches["main"] == sha  # the target is untouched

    [pr] = repo.pulls.values()
    assert (pr.source_branch, pr.destination_branch, pr.state) == (branch, "main", "OPEN")
    assert pr.title == f"CML PR for main {sha[:8]}"
    assert (
        pr.description
        == f"Automated commits for https://bitbucket.org/acme/ml-seeds/commits/{sha} created by CML Runner."
    )
    assert pr.close_source_branch is True
    url = pr.json(bitbucket.root_url, repo)["links"]["html"]["href"]
    assert line == f"PR #{pr.id}: {url}"

    shared = tmp_path / "shared" / "cml-runner"
    assert (shared / "pr_url").read_text() == url + "\n"
    assert json.loads((shared / "pr.json").read_text()) == {
        "id": pr.id,
        "url": url,
        "branch": branch,
        "target": "main",
        "commit": head.hash,
        "build_commit": sha,
    }


def test_variables_name_the_branch_message_title_description_and_target(
    bitbucket: FakeBitbucket, env: dict[str, str], run_mode: RunMode
) -> None:
    repo = bitbucket.repo()
    sha = build_commit(env)
    with bitbucket.lock:  # a second branch that moved on since the build's commit
        develop = repo.add_commit([sha], "develop work", "Dev <dev@example.com>", {"README.md": b"develop\n"})
        repo.branches["develop"] = develop.hash

    run_mode(
        FILES_COUNT="2",
        FILES_0="model/random_forest.joblib",
        FILES_1="metrics/eval/scores.json",
        BRANCH="models/rf",
        TARGET_BRANCH="develop",
        MESSAGE="Retrained random forest",
        SKIP_CI="true",
        TITLE="New model",
        DESCRIPTION="Accuracy 0.93",
        CLOSE_SOURCE_BRANCH="false",
        AUTHOR="Trainer <trainer@example.com>",
    )

    head = repo.commits[repo.branches["models/rf"]]
    assert head.parents == [sha]  # from the build's commit, not from the target's head
    assert head.message == "Retrained random forest [skip ci]"
    assert head.author == "Trainer <trainer@example.com>"
    assert set(head.tree) == {"README.md", "model/random_forest.joblib", "metrics/eval/scores.json"}
    [pr] = repo.pulls.values()
    assert (pr.source_branch, pr.destination_branch) == ("models/rf", "develop")
    assert (pr.title, pr.description, pr.close_source_branch) == ("New model", "Accuracy 0.93", False)


def test_rerun_of_the_same_build_returns_the_same_pr_without_a_new_branch_or_commit(
    bitbucket: FakeBitbucket, run_mode: RunMode
) -> None:
    first = run_mode(FILES="model/random_forest.joblib")
    repo = bitbucket.repo()
    branches, commits = dict(repo.branches), set(repo.commits)

    second = run_mode(FILES="model/random_forest.joblib")

    assert second == first
    assert len(repo.pulls) == 1
    assert repo.branches == branches
    assert set(repo.commits) == commits
    assert bitbucket.request_count(SRC_POST) == 1


def test_existing_branch_with_an_open_pr_gets_the_commit_on_top(
    bitbucket: FakeBitbucket, env: dict[str, str], run_mode: RunMode, clone: Path
) -> None:
    first = run_mode(FILES="model/random_forest.joblib metrics/eval/scores.json")
    repo = bitbucket.repo()
    branch = default_branch(env)
    previous_head = repo.branches[branch]

    (clone / "model" / "random_forest.joblib").write_bytes(BINARY[::-1])
    second = run_mode(FILES="model/random_forest.joblib metrics/eval/scores.json")

    assert second == first  # the same PR
    [pr] = repo.pulls.values()
    assert pr.state == "OPEN"
    head = repo.commits[repo.branches[branch]]
    assert head.parents == [previous_head]
    assert head.tree["model/random_forest.joblib"] == BINARY[::-1]
    assert head.tree["metrics/eval/scores.json"] == b'{"accuracy": 0.93}\n'


def test_branch_left_without_a_pr_gets_one(bitbucket: FakeBitbucket, env: dict[str, str], run_mode: RunMode) -> None:
    """An earlier run committed and then failed before opening the PR: the re-run opens it, commits nothing."""
    repo = bitbucket.repo()
    sha = build_commit(env)
    branch = default_branch(env)
    with bitbucket.lock:
        tree = {**repo.commits[sha].tree, "model/random_forest.joblib": BINARY}
        repo.branches[branch] = repo.add_commit([sha], "earlier run", DEFAULT_AUTHOR, tree).hash
    head = repo.branches[branch]

    run_mode(FILES="model/random_forest.joblib")

    assert repo.branches[branch] == head
    [pr] = repo.pulls.values()
    assert (pr.source_branch, pr.state) == (branch, "OPEN")


def test_nothing_changed_creates_nothing(bitbucket: FakeBitbucket, run_mode: RunMode) -> None:
    repo = bitbucket.repo()
    commits = set(repo.commits)

    line = run_mode(FILES="README.md")

    assert line.startswith("Nothing to commit")
    assert list(repo.branches) == ["main"]
    assert set(repo.commits) == commits
    assert repo.pulls == {}
    assert bitbucket.request_count(SRC_POST) == 0


@pytest.mark.parametrize("strategy", ["merge_commit", "squash", "fast_forward"])
def test_merge_right_after_creation(
    bitbucket: FakeBitbucket, env: dict[str, str], run_mode: RunMode, strategy: str
) -> None:
    line = run_mode(FILES="model/random_forest.joblib", MERGE=strategy)

    repo = bitbucket.repo()
    sha = build_commit(env)
    [pr] = repo.pulls.values()
    assert pr.state == "MERGED"
    assert f"merged ({strategy})" in line
    ours = pr.source_commit_at_close
    assert repo.commits[ours].parents == [sha]
    main = repo.commits[repo.branches["main"]]
    assert main.tree["model/random_forest.joblib"] == BINARY
    expected_parents = {"merge_commit": [sha, ours], "squash": [sha], "fast_forward": [sha]}[strategy]
    assert main.parents == expected_parents
    if strategy == "fast_forward":
        assert main.hash == ours
    assert default_branch(env) not in repo.branches  # CLOSE_SOURCE_BRANCH defaults to true

    # A re-run of the merged build finds the files on main: nothing to do, no second PR.
    assert run_mode(FILES="model/random_forest.joblib", MERGE=strategy).startswith("Nothing to commit")
    assert len(repo.pulls) == 1


def test_refused_merge_is_a_clear_error_and_leaves_the_pr_open(
    bitbucket: FakeBitbucket, env: dict[str, str], tmp_path: Path
) -> None:
    bitbucket.repo().refuse_merges = "You need 1 approval before merging"

    proc = run_pipe({**env, "FILES": "model/random_forest.joblib", "MERGE": "squash"})

    assert proc.returncode == 1, proc.stdout + proc.stderr
    [pr] = bitbucket.repo().pulls.values()
    assert pr.state == "OPEN"
    url = pr.json(bitbucket.root_url, bitbucket.repo())["links"]["html"]["href"]
    failure = [line for line in output_lines(proc) if "MERGE" in line]
    assert len(failure) == 1
    assert "refused to merge" in failure[0]
    assert "You need 1 approval before merging" in failure[0]
    assert f"the PR stays open: {url}" in failure[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert (tmp_path / "shared" / "cml-runner" / "pr_url").read_text() == url + "\n"


def test_oversize_files_fail_before_anything_is_created(
    bitbucket: FakeBitbucket, run_mode: RunMode, clone: Path
) -> None:
    with (clone / "model" / "huge.joblib").open("wb") as f:  # sparse: costs no disk
        f.truncate(MAX_COMMIT_BYTES + 1)
    repo = bitbucket.repo()
    commits = set(repo.commits)

    with pytest.raises(PrError) as err:
        run_mode(FILES="model")

    assert "DVC remote storage" in str(err.value)
    assert "Git LFS" in str(err.value)
    assert "model/huge.joblib" in str(err.value)
    assert list(repo.branches) == ["main"]
    assert set(repo.commits) == commits
    assert repo.pulls == {}
    assert bitbucket.request_count() == 0  # refused before the first API call


def test_pattern_matching_nothing_fails_with_its_name_through_the_entry_point(
    bitbucket: FakeBitbucket, env: dict[str, str]
) -> None:
    proc = run_pipe({**env, "FILES": "model/*.joblib models/*.pkl"})

    assert proc.returncode == 1
    assert any("'models/*.pkl' matches no file" in line for line in output_lines(proc))
    assert bitbucket.repo().pulls == {}
    assert bitbucket.request_count() == 0


def test_missing_target_branch_fails_before_anything_is_created(bitbucket: FakeBitbucket, run_mode: RunMode) -> None:
    with pytest.raises(PrError, match="TARGET_BRANCH: branch 'release' does not exist"):
        run_mode(FILES="model/random_forest.joblib", TARGET_BRANCH="release")
    assert list(bitbucket.repo().branches) == ["main"]
    assert bitbucket.request_count(SRC_POST) == 0


def test_the_pipe_prints_the_link_and_leaves_it_for_later_steps(
    bitbucket: FakeBitbucket, env: dict[str, str], tmp_path: Path
) -> None:
    proc = run_pipe({**env, "FILES": "model/random_forest.joblib"})

    assert proc.returncode == 0, proc.stdout + proc.stderr
    [pr] = bitbucket.repo().pulls.values()
    url = pr.json(bitbucket.root_url, bitbucket.repo())["links"]["html"]["href"]
    lines = output_lines(proc)
    assert any(f"PR #{pr.id}: {url}" in line for line in lines)
    assert (tmp_path / "shared" / "cml-runner" / "pr_url").read_text() == url + "\n"


def test_pr_then_report_on_it_leaves_one_pr_and_one_report_comment(
    bitbucket: FakeBitbucket, run_mode: RunMode, clone: Path
) -> None:
    """The seeds' flow: the model as a PR, the report as its description and as a comment on it; twice."""
    report = (clone / "report.md").read_text()
    for _ in range(2):
        run_mode(FILES="model/random_forest.joblib", REPORT_FILE="report.md")

    repo = bitbucket.repo()
    [pr] = repo.pulls.values()
    assert pr.description == report
    comments = [c for c in repo.comments.values() if c.pr_id == pr.id]
    assert len(comments) == 1
    assert "# Training report" in comments[0].raw
    assert "accuracy 0.93" in comments[0].raw


def test_rerun_after_a_refused_merge_merges_the_same_pr(bitbucket: FakeBitbucket, run_mode: RunMode) -> None:
    repo = bitbucket.repo()
    repo.refuse_merges = "You need 1 approval before merging"
    with pytest.raises(PrError, match="refused to merge"):
        run_mode(FILES="model/random_forest.joblib", MERGE="merge_commit")
    repo.refuse_merges = ""  # approved

    line = run_mode(FILES="model/random_forest.joblib", MERGE="merge_commit")

    [pr] = repo.pulls.values()
    assert pr.state == "MERGED"
    assert line.startswith(f"PR #{pr.id}, merged (merge_commit)")


def test_dry_run_reads_but_creates_nothing(bitbucket: FakeBitbucket, run_mode: RunMode) -> None:
    commits = set(bitbucket.repo().commits)

    line = run_mode(FILES="model/random_forest.joblib", MERGE="squash", DRY_RUN="true")

    assert line == "DRY_RUN: nothing changed; the plan above would commit"
    repo = bitbucket.repo()
    assert (list(repo.branches), set(repo.commits), repo.pulls) == (["main"], commits, {})


def test_branch_equal_to_the_target_is_refused(bitbucket: FakeBitbucket, run_mode: RunMode) -> None:
    with pytest.raises(PrError, match="BRANCH: 'main' is the target branch"):
        run_mode(FILES="model/random_forest.joblib", BRANCH="main")
    assert bitbucket.request_count() == 0


def test_rerun_after_a_merge_that_kept_the_branch_opens_no_second_pr(
    bitbucket: FakeBitbucket, env: dict[str, str], run_mode: RunMode
) -> None:
    variables = {"FILES": "model/random_forest.joblib", "MERGE": "squash", "CLOSE_SOURCE_BRANCH": "false"}
    run_mode(**variables)
    repo = bitbucket.repo()
    assert default_branch(env) in repo.branches

    assert run_mode(**variables).startswith("Nothing to commit")
    [pr] = repo.pulls.values()
    assert pr.state == "MERGED"


def test_the_local_bitbucket_refuses_an_oversize_commit_as_bitbucket_does(
    bitbucket: FakeBitbucket, bb_client: BitbucketClient
) -> None:
    """Why PR mode checks sizes first: past the limit, /src fails with a bare 500 and nothing is created."""
    main = bitbucket.repo().branches["main"]
    with pytest.raises(BitbucketError, match="500"):
        bb_client.commit_files(
            branch="too-big",
            parent=main,
            message="m",
            author="A <a@b.c>",
            files={"m.bin": b"\0" * (MAX_COMMIT_BYTES + 1)},
        )
    assert "too-big" not in bitbucket.repo().branches

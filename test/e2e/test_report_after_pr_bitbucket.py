"""The seed's second half: PR mode, then `COMMAND: report` with `TARGET: pr` in the same pipeline (CML's
`cml pr` then `cml send-comment --pr --update`). The report goes on the PR PR mode opened: found from the
pr.json PR mode left in the pipe's shared storage, else by PR mode's source branch. Both pipes run as users
run them, with the same build variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import output_lines, run_pipe

from pipe.bitbucket.client import BitbucketClient


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    (root / "model").mkdir(parents=True)
    (root / "model" / "model.joblib").write_bytes(b"trained weights\n")
    (root / "report.md").write_text("# Training report\n\naccuracy 0.93\n")
    return root


@pytest.fixture
def build(bb_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The variables every pipe of the step sees: the same build, the same shared storage."""
    return {**bb_env, "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "shared")}


def run_pr_mode(build: dict[str, str], clone: Path, **variables: str) -> None:
    proc = run_pipe({**build, "COMMAND": "pr", "FILES": "model/model.joblib", **variables}, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def run_report(build: dict[str, str], clone: Path, **variables: str) -> list[str]:
    env = {**build, "COMMAND": "report", "REPORT_FILE": "report.md", "TARGET": "pr", "UPDATE": "true", **variables}
    proc = run_pipe(env, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return output_lines(proc)


def pr_comments(bitbucket: FakeBitbucket, pr_id: int) -> list[str]:
    return [c.raw for c in bitbucket.repo().comments.values() if c.pr_id == pr_id]


def test_report_after_pr_mode_goes_on_the_pr_it_opened_and_updates_it(
    bitbucket: FakeBitbucket, build: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    run_pr_mode(build, clone, BRANCH="models/retrained")  # a branch only pr.json can tell

    lines = run_report(build, clone)
    run_report(build, clone)  # --update: the same comment, edited

    [pr] = bitbucket.repo().pulls.values()
    assert pr.source_branch == "models/retrained"
    [raw] = pr_comments(bitbucket, pr.id)
    assert "# Training report" in raw
    assert any("#comment-" in line and f"pull request #{pr.id}" in line for line in lines), lines
    left = json.loads((tmp_path / "shared" / "cml-runner" / "pr.json").read_text())
    assert (left["id"], left["branch"], left["build_commit"]) == (pr.id, pr.source_branch, build["BITBUCKET_COMMIT"])


def test_without_pr_json_the_report_finds_pr_mode_s_branch(
    bitbucket: FakeBitbucket, build: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    """PR mode in an earlier step (its shared storage is not this step's): PR mode's default branch."""
    run_pr_mode({**build, "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / "earlier-step")}, clone)

    run_report(build, clone)

    [pr] = bitbucket.repo().pulls.values()
    assert pr.source_branch == f"main-cml-pr-{build['BITBUCKET_COMMIT'][:8]}"
    assert len(pr_comments(bitbucket, pr.id)) == 1


def test_a_pr_json_of_another_build_is_not_this_build_s_pr(
    bitbucket: FakeBitbucket, build: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    run_pr_mode(build, clone, BRANCH="models/retrained")
    path = tmp_path / "shared" / "cml-runner" / "pr.json"
    left = json.loads(path.read_text())
    path.write_text(json.dumps({**left, "build_commit": "f" * 40}))

    env = {**build, "COMMAND": "report", "REPORT_FILE": "report.md", "TARGET": "pr"}
    proc = run_pipe(env, cwd=clone)

    assert proc.returncode == 1
    assert any("TARGET: 'pr'" in line and "pr.json" in line for line in output_lines(proc))
    assert pr_comments(bitbucket, left["id"]) == []


def test_a_pr_json_naming_a_pr_from_another_branch_is_not_followed(
    bitbucket: FakeBitbucket, bb_client: BitbucketClient, build: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    """pr.json is a file in the build's storage: its id counts only for a PR from the branch it names."""
    main = bitbucket.repo().branches["main"]
    bb_client.commit_files(branch="feature", parent=main, message="work", author="Dev <d@e.f>", files={"a": b"1"})
    other = bb_client.create_pull_request(
        title="Someone's PR",
        description="",
        source_branch="feature",
        destination_branch="main",
        close_source_branch=False,
    )
    run_pr_mode(build, clone)
    path = tmp_path / "shared" / "cml-runner" / "pr.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "id": other.id}))

    run_report(build, clone)

    assert pr_comments(bitbucket, other.id) == []
    [ours] = [p for p in bitbucket.repo().pulls.values() if p.id != other.id]
    assert len(pr_comments(bitbucket, ours.id)) == 1

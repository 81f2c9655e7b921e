"""No chain of pipelines: PR mode's push of its branch starts no pipeline, and a pipeline on that branch opens
no PR of the PR. The local Bitbucket says which pushes would start a pipeline (fakes/bitbucket/pipelines.py);
the test plays the pipeline (the pipe run as users run it, on that push's branch and commit) for each one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from fakes.bitbucket import FakeBitbucket
from fakes.bitbucket.pipelines import DEFAULT, starts_pipeline
from fixtures_pipe import REPO_ROOT, output_lines, run_pipe

ROUNDS = 3  # the reproduction: PR #2 targets PR #1's branch, PR #3 targets PR #2's


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    (root / "model").mkdir(parents=True)
    return root


def train(clone: Path, round_no: int) -> None:
    """A training run: a model whose bytes differ every time, as a retrained one does."""
    (clone / "model" / "model.joblib").write_bytes(b"weights of round %d\n" % round_no)


def play_pipelines(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path, tmp_path: Path, **variables: str
) -> list[subprocess.CompletedProcess[str]]:
    """Run PR mode on the build (main), then once for every push that started a pipeline, as that pipeline's
    training step would (BITBUCKET_BRANCH and BITBUCKET_COMMIT of the push); at most ROUNDS runs."""
    repo = bitbucket.repo()
    builds = [(repo.main_branch, repo.branches[repo.main_branch])]
    runs: list[subprocess.CompletedProcess[str]] = []
    while builds and len(runs) < ROUNDS:
        branch, commit = builds.pop(0)
        seen = len(repo.pushes)
        train(clone, len(runs) + 1)
        env = {
            **bb_env,
            "COMMAND": "pr",
            "FILES": "model/model.joblib",
            "BITBUCKET_BRANCH": branch,
            "BITBUCKET_COMMIT": commit,
            "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path / f"shared-{len(runs)}"),
            **variables,
        }
        runs.append(run_pipe(env, cwd=clone))
        builds += [(p.branch, p.commit) for p in repo.pushes[seen:] if p.pipeline]
    return runs


def test_pr_mode_s_push_starts_no_pipeline_by_default(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    """`pipelines: default` (the README's old example) and SKIP_CI unset: one run, one PR, nothing started."""
    assert bitbucket.repo().pipeline_triggers == (DEFAULT,)

    runs = play_pipelines(bitbucket, bb_env, clone, tmp_path)

    assert [r.returncode for r in runs] == [0], [r.stdout + r.stderr for r in runs]
    repo = bitbucket.repo()
    [pr] = repo.pulls.values()
    assert pr.destination_branch == "main"
    [push] = repo.pushes
    assert (push.branch, push.pipeline) == (pr.source_branch, False)
    assert push.message.endswith(" [skip ci]")


def test_a_pipeline_on_pr_mode_s_own_branch_opens_no_pr_of_the_pr(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    """SKIP_CI: 'false' lets the push start the pipeline again; PR mode there refuses in one line, exit 1."""
    runs = play_pipelines(bitbucket, bb_env, clone, tmp_path, SKIP_CI="false")

    assert [r.returncode for r in runs] == [0, 1], [r.stdout + r.stderr for r in runs]
    repo = bitbucket.repo()
    [pr] = repo.pulls.values()
    assert pr.destination_branch == "main"
    refusal = [line for line in output_lines(runs[1]) if "BITBUCKET_BRANCH" in line]
    assert len(refusal) == 1 and f"'{pr.source_branch}'" in refusal[0] and "cml-pr" in refusal[0]
    assert "Traceback" not in runs[1].stdout + runs[1].stderr
    assert [p.branch for p in repo.pushes] == [pr.source_branch]  # the refused run pushed nothing


def test_target_branch_of_our_own_naming_is_refused_before_any_call(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path
) -> None:
    train(clone, 1)
    env = {**bb_env, "COMMAND": "pr", "FILES": "model/model.joblib", "TARGET_BRANCH": "main-cml-pr-0123abcd"}
    proc = run_pipe(env, cwd=clone)

    assert proc.returncode == 1
    assert len([line for line in output_lines(proc) if "TARGET_BRANCH: 'main-cml-pr-0123abcd'" in line]) == 1
    assert bitbucket.request_count() == 0


def _example_triggers(path: Path) -> tuple[str, ...]:
    pipelines = yaml.safe_load(path.read_text(encoding="utf-8"))["pipelines"]
    return tuple([DEFAULT] if DEFAULT in pipelines else []) + tuple(pipelines.get("branches", {}))


def test_the_seed_example_s_trigger_starts_no_pipeline_even_with_skip_ci_off(
    bitbucket: FakeBitbucket, bb_env: dict[str, str], clone: Path, tmp_path: Path
) -> None:
    """The examples' trigger (`branches: main`), read from examples/seeds, is safe on its own."""
    repo = bitbucket.repo()
    with bitbucket.lock:
        repo.pipeline_triggers = _example_triggers(REPO_ROOT / "examples" / "seeds" / "bitbucket-pipelines.yml")

    runs = play_pipelines(bitbucket, bb_env, clone, tmp_path, SKIP_CI="false")

    assert [r.returncode for r in runs] == [0]
    assert [(p.message.endswith("[skip ci]"), p.pipeline) for p in repo.pushes] == [(False, False)]
    assert len(repo.pulls) == 1


@pytest.mark.parametrize(
    ("branch", "message", "triggers", "started"),
    [
        ("main-cml-pr-0123abcd", "CML PR for 0123abcd", (DEFAULT,), True),
        ("main-cml-pr-0123abcd", "CML PR for 0123abcd [skip ci]", (DEFAULT,), False),
        ("main", "[ci skip] docs", (DEFAULT, "main"), False),
        ("main", "docs [skip-ci]", ("main",), True),  # only the two labels skip
        ("main-cml-pr-0123abcd", "CML PR for 0123abcd", ("main",), False),
        ("feature/a", "x", ("feature/*",), True),
        ("feature/a/b", "x", ("feature/*",), False),  # `*` stops at `/`
        ("feature/a/b", "x", ("**",), True),
    ],
)
def test_the_local_bitbucket_starts_pipelines_as_bitbucket_does(
    branch: str, message: str, triggers: tuple[str, ...], started: bool
) -> None:
    assert starts_pipeline(branch, message, triggers) is started

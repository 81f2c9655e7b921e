"""Talking to Bitbucket safely (issue 13): the token goes only to BITBUCKET_API_URL's origin, a POST whose answer
was lost is not repeated blindly, a malformed answer is one line naming the call, and DEBUG shows no bodies.

Report and pr mode through the real entry point against the local Bitbucket, which injects the faults.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.bitbucket import DEFAULT_TOKEN, FakeBitbucket
from fakes.trap import Trap
from fixtures_pipe import output_lines, run_pipe, strip_ansi

from pipe.bitbucket.client import Auth, BitbucketClient

REPORT_TEXT = "# Report\n\nDistinctive-Report-Body-4411: accuracy went up.\n"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "report.md").write_text(REPORT_TEXT)
    (tmp_path / "model.bin").write_bytes(b"weights")
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\nplot")
    return tmp_path


@pytest.fixture
def trap() -> Iterator[Trap]:
    with Trap() as listening:
        yield listening


def client(bitbucket: FakeBitbucket) -> BitbucketClient:
    return BitbucketClient(Auth(access_token=DEFAULT_TOKEN), "acme", "ml-seeds", bitbucket.url, sleep=lambda _: None)


def open_pr(bitbucket: FakeBitbucket) -> int:
    with bitbucket.lock:
        repo = bitbucket.repo()
        head = repo.add_commit([repo.branches["main"]], "train", "Dev <d@example.com>", {"t.py": b"1"})
        repo.branches["feature"] = head.hash
    pr = client(bitbucket).create_pull_request(
        title="t", description="", source_branch="feature", destination_branch="main", close_source_branch=False
    )
    return pr.id


def report_env(bitbucket: FakeBitbucket, clone: Path, **variables: str) -> dict[str, str]:
    return {
        **bitbucket.pipeline_env(),
        "BITBUCKET_CLONE_DIR": str(clone),
        "COMMAND": "report",
        "REPORT_FILE": "report.md",
        **variables,
    }


def comments(bitbucket: FakeBitbucket) -> list[str]:
    with bitbucket.lock:
        return [c.raw for c in bitbucket.repo().comments.values()]


def one_failure(proc: Any) -> str:
    lines = output_lines(proc)
    everything = strip_ansi(proc.stdout + proc.stderr)
    assert proc.returncode == 1, lines
    assert "Traceback" not in everything and "internal error" not in everything, everything
    return strip_ansi(proc.stdout).strip().splitlines()[-1]  # the failure line (logs go to stderr)


def page(next_url: str) -> str:
    return json.dumps({"pagelen": 10, "values": [], "next": next_url})


# --- the token goes only to the origin of BITBUCKET_API_URL


def test_the_first_next_link_to_another_host_is_refused(bitbucket: FakeBitbucket, clone: Path, trap: Trap) -> None:
    """TARGET auto lists the PRs of the build's commit; a first page that points elsewhere is not followed."""
    bitbucket.add_fault("body", status=200, method="GET", path=r"/commit/[0-9a-f]+/pullrequests$",
                        body=page(f"{trap.url}/2.0/steal?page=2"))  # fmt: skip
    line = one_failure(run_pipe(report_env(bitbucket, clone), cwd=clone))
    assert "localhost" in line and "refused" in line, line
    assert trap.requests == [] and comments(bitbucket) == []


def test_a_later_next_link_to_another_host_is_refused(bitbucket: FakeBitbucket, clone: Path, trap: Trap) -> None:
    pr_id = open_pr(bitbucket)
    for i in range(3):
        client(bitbucket).create_pr_comment(pr_id, f"comment {i}")
    # Page 1 points at page 2 on the same host (followed); page 2 points at another host (refused).
    comments_path = f"{bitbucket.url}/repositories/acme/ml-seeds/pullrequests/{pr_id}/comments"
    bitbucket.add_fault("body", status=200, method="GET", path=r"/pullrequests/\d+/comments$",
                        body=page(f"{comments_path}?page=2"))  # fmt: skip
    bitbucket.add_fault("body", status=200, method="GET", path=r"/pullrequests/\d+/comments$",
                        body=page(f"{trap.url}/2.0/steal?page=3"))  # fmt: skip
    env = report_env(bitbucket, clone, BITBUCKET_PR_ID=str(pr_id), UPDATE="true")
    line = one_failure(run_pipe(env, cwd=clone))
    assert "refused" in line, line
    assert trap.requests == []
    assert len(comments(bitbucket)) == 3  # nothing posted


def test_a_location_header_to_another_host_is_not_followed(bitbucket: FakeBitbucket, clone: Path, trap: Trap) -> None:
    """A commit comment answered 201 with only a Location (what the spec promises) pointing elsewhere."""
    bitbucket.add_fault("body", status=201, method="POST", path=r"/commit/[0-9a-f]+/comments$", body="",
                        headers={"Location": f"{trap.url}/2.0/comment/1"})  # fmt: skip
    line = one_failure(run_pipe(report_env(bitbucket, clone, TARGET="commit"), cwd=clone))
    assert "refused" in line, line
    assert trap.requests == []


def test_a_merge_task_location_to_another_host_is_not_polled(bitbucket: FakeBitbucket, clone: Path, trap: Trap) -> None:
    bitbucket.add_fault("body", status=202, method="POST", path=r"/merge$", body="",
                        headers={"Location": f"{trap.url}/2.0/merge-task/1"})  # fmt: skip
    env = {**bitbucket.pipeline_env(), "BITBUCKET_CLONE_DIR": str(clone), "COMMAND": "pr", "FILES": "model.bin",
           "MERGE": "squash"}  # fmt: skip
    line = one_failure(run_pipe(env, cwd=clone))
    assert line.startswith("✖ MERGE:") and "refused" in line, line
    assert trap.requests == []


def test_a_redirect_to_another_host_is_refused_and_one_to_the_same_host_followed(
    bitbucket: FakeBitbucket, clone: Path, trap: Trap
) -> None:
    pr_id = open_pr(bitbucket)
    env = report_env(bitbucket, clone, BITBUCKET_PR_ID=str(pr_id), UPDATE="true")
    bitbucket.add_fault("body", status=302, method="GET", path=r"^/user$", body="",
                        headers={"Location": f"{trap.url}/2.0/user"})  # fmt: skip
    line = one_failure(run_pipe(env, cwd=clone))
    assert "redirected" in line and "refused" in line, line
    assert trap.requests == []

    bitbucket.clear_faults()
    bitbucket.add_fault("body", status=302, method="GET", path=r"^/user$", body="",
                        headers={"Location": f"{bitbucket.url}/user"})  # fmt: skip
    proc = run_pipe(env, cwd=clone)
    assert proc.returncode == 0, output_lines(proc)
    assert len(comments(bitbucket)) == 1


# --- a POST whose answer was lost is looked for, not repeated


@pytest.mark.parametrize(
    "fault", [{"kind": "drop"}, {"kind": "status", "status": 500}, {"kind": "status", "status": 503}],
    ids=["dropped", "500", "503"],
)  # fmt: skip
@pytest.mark.parametrize("target", ["pr", "commit"])
def test_a_report_comment_whose_answer_was_lost_is_posted_once(
    bitbucket: FakeBitbucket, clone: Path, fault: dict[str, Any], target: str
) -> None:
    variables = {"BITBUCKET_PR_ID": str(open_pr(bitbucket))} if target == "pr" else {"TARGET": "commit"}
    bitbucket.add_fault(method="POST", path=r"/comments$", handled=True, **fault)
    proc = run_pipe(report_env(bitbucket, clone, **variables), cwd=clone)
    assert proc.returncode == 0, output_lines(proc)
    assert len(comments(bitbucket)) == 1


def test_pr_mode_whose_commit_pr_and_upload_answers_were_lost_makes_each_once(
    bitbucket: FakeBitbucket, clone: Path
) -> None:
    (clone / "report.md").write_text(REPORT_TEXT + "\n![plot](plot.png)\n")
    for path in (r"/src$", r"/pullrequests$", r"/downloads$"):
        bitbucket.add_fault("drop", method="POST", path=path, handled=True)
    env = {**bitbucket.pipeline_env(), "BITBUCKET_CLONE_DIR": str(clone), "COMMAND": "pr", "FILES": "model.bin",
           "REPORT_FILE": "report.md"}  # fmt: skip
    proc = run_pipe(env, cwd=clone)
    assert proc.returncode == 0, output_lines(proc)
    with bitbucket.lock:
        repo = bitbucket.repo()
        assert len(repo.pulls) == 1
        branch = next(iter(repo.pulls.values())).source_branch
        head = repo.commits[repo.branches[branch]]
        assert head.tree["model.bin"] == b"weights"
        assert repo.commits[head.parents[0]].hash == bitbucket.pipeline_env()["BITBUCKET_COMMIT"]  # one commit
    assert bitbucket.request_count("POST /repositories/{workspace}/{repo_slug}/downloads") == 1
    assert bitbucket.request_count("POST /repositories/{workspace}/{repo_slug}/pullrequests") == 1
    assert bitbucket.request_count("POST /repositories/{workspace}/{repo_slug}/src") == 1
    assert len(comments(bitbucket)) == 1


# --- malformed answers: one line naming the call


MALFORMED = {
    "user is an HTML page": ("GET", r"^/user$", {"body": "<html><h1>502 Bad Gateway</h1></html>",
                                                  "content_type": "text/html"}, "GET /user answered an HTML page"),
    "comments are a JSON list": ("GET", r"/comments$", {"body": "[]"},
                                 "GET /repositories/acme/ml-seeds/pullrequests/1/comments answered a JSON list"),
    "comment id is a string": ("POST", r"/comments$", {"body": '{"id": "abc", "content": {"raw": "x"}}',
                                                       "handled": True}, "a comment whose id is 'abc'"),
    "comment answer is empty": ("POST", r"/comments$", {"body": "", "handled": True}, "an empty body"),
    "pull request is not JSON": ("GET", r"/pullrequests/\d+$", {"body": "Service Unavailable",
                                                                "content_type": "text/plain"}, "not JSON"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_answer_is_one_line_naming_the_call(bitbucket: FakeBitbucket, clone: Path, case: str) -> None:
    method, path, fault, expected = MALFORMED[case]
    pr_id = open_pr(bitbucket)
    bitbucket.add_fault("body", status=200, method=method, path=path, times=None, **fault)
    line = one_failure(run_pipe(report_env(bitbucket, clone, BITBUCKET_PR_ID=str(pr_id), UPDATE="true"), cwd=clone))
    assert "Bitbucket API" in line and expected in line, line


def test_debug_logs_say_what_was_called_without_bodies(bitbucket: FakeBitbucket, clone: Path) -> None:
    proc = run_pipe(report_env(bitbucket, clone, TARGET="commit", DEBUG="true"), cwd=clone)
    everything = strip_ansi(proc.stdout + proc.stderr)
    assert proc.returncode == 0, everything
    assert "bitbucket -> POST" in everything and "bitbucket <- POST" in everything
    assert "Distinctive-Report-Body-4411" not in everything  # the comment's body was posted, not logged
    assert DEFAULT_TOKEN not in everything and "Authorization" not in everything
    assert "urllib3" not in everything  # no library wire log either

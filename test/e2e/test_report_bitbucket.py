"""Report mode against the local Bitbucket over real HTTP: what a user sees on the PR and in Downloads."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakes.bitbucket import DEFAULT_TOKEN, FakeBitbucket
from fixtures_pipe import output_lines, run_pipe

from pipe.bitbucket.client import Auth, BitbucketClient
from pipe.config.report import ReportSettings, load
from pipe.report import size
from pipe.report.errors import ReportError
from pipe.report.flow import ReportResult, post_on_pr, run_report
from pipe.report.marker import add_marker, has_marker
from pipe.report.targets import CommitTarget, PrTarget

PNG = b"\x89PNG\r\n\x1a\n" + b"confusion-matrix" * 4
UPLOAD = "POST /repositories/{workspace}/{repo_slug}/downloads"
LIST_DOWNLOADS = "GET /repositories/{workspace}/{repo_slug}/downloads"
PUT_PR_COMMENT = "PUT /repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments/{comment_id}"


@pytest.fixture
def fake(bitbucket: FakeBitbucket) -> FakeBitbucket:
    """The shared local Bitbucket (fixtures_bitbucket.py), freshly reset."""
    return bitbucket


def client_for(fake: FakeBitbucket, token: str = DEFAULT_TOKEN) -> BitbucketClient:
    return BitbucketClient(Auth(access_token=token), "acme", "ml-seeds", fake.url, sleep=lambda _s: None, max_retries=0)


@dataclass(frozen=True)
class Build:
    workspace: str
    repo_slug: str
    commit: str
    branch: str
    clone_dir: Path
    pr_id: int | None = None
    dry_run: bool = False


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    def warning(self, msg: str) -> None:
        self.lines.append("WARNING " + msg)


def commit_to(fake: FakeBitbucket, branch: str, files: dict[str, bytes], base: str = "main") -> str:
    with fake.lock:
        repo = fake.repo()
        parent = repo.branches.get(branch) or repo.branches[base]
        tree = {**repo.commits[parent].tree, **files}
        commit = repo.add_commit([parent], f"update {branch}", "Dev <dev@example.com>", tree)
        repo.branches[branch] = commit.hash
        return commit.hash


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "plots" / "eval").mkdir(parents=True)
    (tmp_path / "plots" / "cm.png").write_bytes(PNG)
    (tmp_path / "plots" / "eval" / "roc.png").write_bytes(PNG + b"roc")
    (tmp_path / "report.md").write_text("# Training report\n\nAccuracy went up.\n")
    return tmp_path


def settings(clone: Path, **env: str) -> ReportSettings:
    return load({"BITBUCKET_CLONE_DIR": str(clone), "REPORT_FILE": "report.md", **env})


def feature_build(fake: FakeBitbucket, clone: Path, *, pr: bool = True, files: dict[str, bytes] | None = None) -> Build:
    head = commit_to(fake, "feature", files or {"train.py": b"print(1)\n"})
    pr_id = None
    if pr:
        created = client_for(fake).create_pull_request(
            title="Train", description="", source_branch="feature", destination_branch="main", close_source_branch=False
        )
        pr_id = created.id
    return Build("acme", "ml-seeds", head, "feature", clone, pr_id)


def run(fake: FakeBitbucket, s: ReportSettings, build: Build) -> tuple[ReportResult, Log]:
    log = Log()
    return run_report(s, build, client_for(fake), log), log


def comments(fake: FakeBitbucket, pr_id: int | None = None) -> list[tuple[int, str, str]]:
    """(id, author nickname, raw) on a PR, or commit comments when pr_id is None."""
    with fake.lock:
        return [
            (c.id, c.user.nickname, c.raw)
            for c in fake.repo().comments.values()
            if (c.pr_id == pr_id if pr_id is not None else c.commit is not None)
        ]


# --- targets and UPDATE


def test_new_comment_on_the_builds_pr_and_its_url_is_printed(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone)
    result, log = run(fake, settings(clone), build)
    assert result.target == PrTarget(build.pr_id or 0) and result.action == "created"
    [(_, author, raw)] = comments(fake, build.pr_id)
    assert author == "cml-bot" and "# Training report" in raw and has_marker(raw, "")
    assert result.comment is not None and result.comment.html_url.endswith(f"#comment-{result.comment.id}")
    assert any(result.comment.html_url in line for line in log.lines)


def test_auto_finds_the_open_pr_of_the_branch_without_pr_id(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone)
    result, _ = run(fake, settings(clone), replace(build, pr_id=None))
    assert result.target == PrTarget(build.pr_id or 0)
    assert len(comments(fake, build.pr_id)) == 1


def test_update_edits_the_same_comment_and_leaves_other_peoples_alone(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone)
    first, _ = run(fake, settings(clone, UPDATE="true"), build)
    # Someone else quotes our report, marker and all: still not ours to edit.
    alice = fake.add_user("Alice", "alice")
    fake.add_token("alice-token", user=alice)
    theirs = client_for(fake, "alice-token").create_pr_comment(build.pr_id or 0, add_marker("I agree", ""))
    (clone / "report.md").write_text("# Training report\n\nSecond run.\n")
    puts = fake.request_count(PUT_PR_COMMENT)
    second, _ = run(fake, settings(clone, UPDATE="true"), build)
    assert second.action == "updated" and second.comment is not None and first.comment is not None
    assert second.comment.id == first.comment.id
    assert fake.request_count(PUT_PR_COMMENT) == puts + 1
    by_id = {cid: (author, raw) for cid, author, raw in comments(fake, build.pr_id)}
    assert len(by_id) == 2
    assert "Second run." in by_id[first.comment.id][1]
    assert by_id[theirs.id] == ("alice", add_marker("I agree", ""))


def test_without_update_each_run_adds_a_comment(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone)
    run(fake, settings(clone), build)
    run(fake, settings(clone), build)
    assert len(comments(fake, build.pr_id)) == 2


def test_two_watermark_titles_give_two_comments(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone)
    a, _ = run(fake, settings(clone, UPDATE="true", WATERMARK_TITLE="train"), build)
    b, _ = run(fake, settings(clone, UPDATE="true", WATERMARK_TITLE="eval"), build)
    again, _ = run(fake, settings(clone, UPDATE="true", WATERMARK_TITLE="eval"), build)
    assert a.comment is not None and b.comment is not None and again.comment is not None
    assert a.comment.id != b.comment.id and again.comment.id == b.comment.id
    assert len(comments(fake, build.pr_id)) == 2


def test_commit_comment_when_there_is_no_pr(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone, pr=False)
    result, _ = run(fake, settings(clone), build)
    assert result.target == CommitTarget(build.commit)
    [(_, _, raw)] = comments(fake)
    assert "# Training report" in raw
    with fake.lock:
        assert next(iter(fake.repo().comments.values())).commit == build.commit


def test_update_on_a_commit_comment(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone, pr=False)
    first, _ = run(fake, settings(clone, UPDATE="true"), build)
    second, _ = run(fake, settings(clone, UPDATE="true"), build)
    assert first.comment is not None and second.comment is not None and first.comment.id == second.comment.id
    assert len(comments(fake)) == 1


def test_target_pr_that_does_not_exist_is_a_clear_error(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone, pr=False)
    with pytest.raises(ReportError, match=r"TARGET: 'pr/77'.*does not exist"):
        run(fake, settings(clone, TARGET="pr/77"), build)
    with pytest.raises(ReportError, match="TARGET: 'pr'"):
        run(fake, settings(clone, TARGET="pr"), build)


def test_post_report_for_pr_mode(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone)
    pr = client_for(fake).get_pull_request(build.pr_id or 0)
    result = post_on_pr(settings(clone), replace(build, pr_id=None), client_for(fake), Log(), pr)
    assert result.target == PrTarget(pr.id) and len(comments(fake, pr.id)) == 1


# --- publishing


def image_report(clone: Path) -> None:
    live = base64.b64encode(b"dvclive-plot").decode()
    (clone / "report.md").write_text(
        '# Report\n\n![cm](plots/cm.png)\n\n![roc](./plots/eval/roc.png "ROC")\n\n'
        f"![live](data:image/png;base64,{live})\n\n![lost](plots/missing.png)\n\n[weights](https://example.com/w)\n"
    )


def test_images_are_uploaded_and_links_point_to_them(fake: FakeBitbucket, clone: Path) -> None:
    image_report(clone)
    build = feature_build(fake, clone)
    result, log = run(fake, settings(clone), build)
    with fake.lock:
        stored = {name: d.content for name, d in fake.repo().downloads.items()}
    assert len(stored) == 3 and all(n.startswith("cml-") for n in stored)
    assert sorted(stored.values()) == sorted([PNG, PNG + b"roc", b"dvclive-plot"])
    [(_, _, raw)] = comments(fake, build.pr_id)
    download_base = f"{fake.root_url}/acme/ml-seeds/downloads/"
    for name in stored:
        assert f"({download_base}{name}" in raw
    assert "base64" not in raw and "(plots/cm.png)" not in raw and '"ROC")' in raw
    assert "![lost](plots/missing.png)" in raw and "(https://example.com/w)" in raw
    warnings = [line for line in log.lines if line.startswith("WARNING")]
    assert len(warnings) == 1 and "plots/missing.png" in warnings[0]
    assert result.warnings == [warnings[0].removeprefix("WARNING ")]


def test_second_run_uploads_nothing(fake: FakeBitbucket, clone: Path) -> None:
    image_report(clone)
    build = feature_build(fake, clone)
    run(fake, settings(clone, UPDATE="true"), build)
    uploads, lists = fake.request_count(UPLOAD), fake.request_count(LIST_DOWNLOADS)
    second, _ = run(fake, settings(clone, UPDATE="true"), build)
    assert fake.request_count(UPLOAD) == uploads
    assert fake.request_count(LIST_DOWNLOADS) == lists + 1
    assert second.uploaded == [] and len(second.reused) == 3


def test_publish_false_leaves_links_alone(fake: FakeBitbucket, clone: Path) -> None:
    image_report(clone)
    build = feature_build(fake, clone)
    run(fake, settings(clone, PUBLISH="false"), build)
    assert fake.request_count(UPLOAD) == 0
    [(_, _, raw)] = comments(fake, build.pr_id)
    assert "(plots/cm.png)" in raw


# --- metrics


def metrics_build(fake: FakeBitbucket, clone: Path, new: bytes, old: bytes | None, name: str = "metrics.json") -> Build:
    if old is not None:
        commit_to(fake, "main", {name: old})
    (clone / name).write_bytes(new)
    return feature_build(fake, clone, files={name: new})


def table_rows(raw: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in raw.splitlines() if line.startswith("| ")]
    return {cells[1].strip(): [c.strip() for c in cells] for cells in rows[1:]}


@pytest.mark.parametrize(
    ("name", "new", "old"),
    [
        ("metrics.json", b'{"acc": 0.93, "loss": 0.2}', b'{"acc": 0.9, "loss": 0.25}'),
        ("metrics.yaml", b"acc: 0.93\nloss: 0.2\n", b"acc: 0.9\nloss: 0.25\n"),
        ("metrics.txt", b"acc: 0.93\nloss: 0.2\n", b"acc: 0.9\nloss: 0.25\n"),
    ],
)
def test_metrics_diff_against_the_destination_branch(
    fake: FakeBitbucket, clone: Path, name: str, new: bytes, old: bytes
) -> None:
    build = metrics_build(fake, clone, new, old, name)
    result, _ = run(fake, settings(clone, METRICS_FILE=name, THRESHOLDS="acc>=0.9,loss<0.3"), build)
    [(_, _, raw)] = comments(fake, build.pr_id)
    rows = table_rows(raw)
    assert rows["acc"] == [name, "acc", "0.9", "0.93", "+0.03"]
    assert rows["loss"] == [name, "loss", "0.25", "0.2", "-0.05"]
    assert f"Old: `{name}` on `main`" in raw
    assert result.insights is not None
    with fake.lock:
        report = fake.repo().reports[(build.commit, result.insights.report_id)]
    assert report["result"] == "PASSED"
    assert [(d["title"], d["type"], d["value"]) for d in report["data"]] == [
        ("acc", "NUMBER", 0.93),
        ("loss", "NUMBER", 0.2),
    ]
    assert result.comment is not None and report.get("link") == result.comment.html_url


def test_dvclive_nested_metrics_no_old_file_and_failed_threshold(fake: FakeBitbucket, clone: Path) -> None:
    (clone / "dvclive").mkdir()
    live = json.dumps({"step": 9, "train": {"acc": 0.8}, "eval": {"acc": 0.7}}).encode()
    (clone / "dvclive" / "metrics.json").write_bytes(live)
    build = feature_build(fake, clone, files={"dvclive/metrics.json": live})
    log = Log()
    result = run_report(
        settings(clone, METRICS_FILE="dvclive/metrics.json", THRESHOLDS="eval.acc>=0.9"), build, client_for(fake), log
    )
    [(_, _, raw)] = comments(fake, build.pr_id)
    rows = table_rows(raw)
    assert rows["eval.acc"] == ["dvclive/metrics.json", "eval.acc", "-", "0.7", "-"]
    assert "train.acc" in rows and "step" in rows
    assert "no `dvclive/metrics.json` on `main`" in raw
    assert result.insights is not None
    with fake.lock:
        report = fake.repo().reports[(build.commit, result.insights.report_id)]
    assert report["result"] == "FAILED"
    assert report["data"][0]["title"] == "eval.acc"
    assert any("THRESHOLDS not met" in line and "eval.acc" in line for line in log.lines)


def test_more_than_ten_metrics(fake: FakeBitbucket, clone: Path) -> None:
    values = {f"m{i:02}": i / 100 for i in range(14)}
    build = metrics_build(fake, clone, json.dumps(values).encode(), None)
    result, _ = run(fake, settings(clone, METRICS_FILE="metrics.json", THRESHOLDS="m13>0.1"), build)
    assert result.insights is not None
    with fake.lock:
        report = fake.repo().reports[(build.commit, result.insights.report_id)]
    assert len(report["data"]) == 10 and report["data"][0]["title"] == "m13"
    assert "4 more metrics are in the report comment" in report["details"]
    [(_, _, raw)] = comments(fake, build.pr_id)
    assert len(table_rows(raw)) == 14


def test_no_insights_report_without_metrics(fake: FakeBitbucket, clone: Path) -> None:
    build = feature_build(fake, clone)
    run(fake, settings(clone), build)
    with fake.lock:
        assert fake.repo().reports == {}


# --- preview, DRY_RUN, size


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def test_dry_run_writes_the_preview_and_posts_nothing(fake: FakeBitbucket, clone: Path) -> None:
    image_report(clone)
    build = replace(metrics_build(fake, clone, b'{"acc": 0.93}', b'{"acc": 0.9}'), dry_run=True)
    before = fake.request_count()
    result, log = run(fake, settings(clone, METRICS_FILE="metrics.json", PREVIEW_FILE="out/preview.md"), build)
    with fake.lock:
        assert fake.repo().comments == {} and fake.repo().downloads == {} and fake.repo().reports == {}
    assert fake.request_count(UPLOAD) == 0 and fake.request_count() > before  # reads only
    assert result.action == "dry-run" and result.comment is None and len(result.uploaded) == 3
    md = (clone / "out" / "preview.md").read_text()
    assert md == result.markdown and "| acc |" in md
    parser = Tags()
    parser.feed((clone / "out" / "preview.html").read_text())
    tags = [t for t, _ in parser.found]
    assert "table" in tags
    srcs = [a.get("src") or "" for t, a in parser.found if t == "img"]
    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in srcs
    assert any("DRY_RUN: would add a comment" in line for line in log.lines)


def test_long_report_is_truncated_with_the_full_one_in_downloads(fake: FakeBitbucket, clone: Path) -> None:
    (clone / "report.md").write_text("# Big\n\n" + "".join(f"- row {i} " + "x" * 60 + "\n" for i in range(1000)))
    build = feature_build(fake, clone)
    result, _ = run(fake, settings(clone), build)
    [(_, _, raw)] = comments(fake, build.pr_id)
    assert result.truncated and len(raw) <= size.COMMENT_LIMIT
    assert "Report truncated" in raw and has_marker(raw, "")
    with fake.lock:
        full = [d.content for n, d in fake.repo().downloads.items() if n.endswith("report.md")]
    assert full == [(clone / "report.md").read_bytes()]


# --- the pipe as users run it


def test_the_pipe_posts_the_report(fake: FakeBitbucket, clone: Path, bb_env: dict[str, str]) -> None:
    image_report(clone)
    build = metrics_build(fake, clone, b'{"acc": 0.95}', b'{"acc": 0.9}')
    env = {
        **bb_env,
        "COMMAND": "report",
        "BITBUCKET_COMMIT": build.commit,
        "BITBUCKET_BRANCH": "feature",
        "BITBUCKET_PR_ID": str(build.pr_id),
        "REPORT_FILE": "report.md",
        "METRICS_FILE": "metrics.json",
        "THRESHOLDS": "acc>=0.9",
        "UPDATE": "true",
    }
    proc = run_pipe(env, cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [(cid, _, raw)] = comments(fake, build.pr_id)
    lines = output_lines(proc)
    assert any(f"#comment-{cid}" in line for line in lines)
    assert any("plots/missing.png" in line for line in lines)
    assert "| metrics.json | acc | 0.9 | 0.95 | +0.05 |" in raw
    assert run_pipe(env, cwd=clone).returncode == 0
    assert [c[0] for c in comments(fake, build.pr_id)] == [cid]


def test_the_pipe_refuses_bad_thresholds_before_any_call(
    fake: FakeBitbucket, clone: Path, bb_env: dict[str, str]
) -> None:
    (clone / "metrics.json").write_text('{"acc": 1}')
    env = {**bb_env, "COMMAND": "report", "REPORT_FILE": "report.md", "METRICS_FILE": "metrics.json"}
    proc = run_pipe({**env, "THRESHOLDS": "acc>>0.9"}, cwd=clone)
    assert proc.returncode == 1
    failure = [line for line in output_lines(proc) if "THRESHOLDS" in line]
    assert len(failure) == 1 and "acc>>0.9" in failure[0]
    assert fake.request_count() == 0


@pytest.mark.parametrize("command", ["report", "pr"])
def test_a_threshold_on_a_metric_no_file_has_is_one_line_and_nothing_is_posted(
    fake: FakeBitbucket, clone: Path, bb_env: dict[str, str], command: str
) -> None:
    """`acc>=0.9` against a file of `accuracy` and `loss`: a typo, not a failed gate (it used to post
    "acc>=0.9 (missing): FAILED" and exit 0)."""
    (clone / "metrics.json").write_text('{"accuracy": 0.93, "loss": 0.2}')
    env = {
        **bb_env,
        "COMMAND": command,
        "REPORT_FILE": "report.md",
        "METRICS_FILE": "metrics.json",
        "THRESHOLDS": "acc>=0.9",
        "FILES": "metrics.json",
    }
    proc = run_pipe(env, cwd=clone)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = output_lines(proc)
    failure = [line for line in lines if "THRESHOLDS" in line]
    assert len(failure) == 1, lines
    assert "'acc>=0.9'" in failure[0] and "'acc'" in failure[0] and "accuracy, loss" in failure[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    repo = fake.repo()
    assert (repo.comments, repo.reports, repo.pulls, list(repo.branches)) == ({}, {}, {}, ["main"])
    assert fake.request_count() == 0

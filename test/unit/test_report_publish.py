"""Publishing plan and upload decisions, the HTML preview, and target resolution: no HTTP."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipe.bitbucket.client import BitbucketError
from pipe.bitbucket.models import Download, PullRequest
from pipe.config.report import load as load_report
from pipe.config.variables import ConfigError
from pipe.formats.target import parse_target
from pipe.paths import preview_twins
from pipe.report import preview, publish
from pipe.report.errors import ReportError
from pipe.report.targets import CommitTarget, PrTarget, resolve_target

PNG = b"\x89PNG\r\n\x1a\nfake-plot"


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    (tmp_path / "plots" / "deep").mkdir(parents=True)
    (tmp_path / "plots" / "cm.png").write_bytes(PNG)
    (tmp_path / "plots" / "deep" / "roc.png").write_bytes(PNG + b"roc")
    (tmp_path / "data.csv").write_text("a,b\n")
    return tmp_path


def test_plan_names_are_content_addressed(report_dir: Path) -> None:
    b64 = base64.b64encode(b"dvclive-png").decode()
    text = (
        "![cm](plots/cm.png)\n![again](./plots/cm.png)\n![roc](plots/deep/roc.png)\n"
        f"[csv](data.csv#L2)\n![live](data:image/png;base64,{b64})\n![gone](plots/missing.png)\n"
        "[web](https://example.com/x.png)\n[dir](plots)\n"
    )
    plan = publish.plan(text, report_dir, report_dir)
    digest = hashlib.sha256(PNG).hexdigest()[:16]
    assert f"cml-{digest}-cm.png" in plan.assets
    assert len(plan.assets) == 4  # cm.png once, roc.png, data.csv, the data: image
    live = next(a for a in plan.assets.values() if a.source == "data: URI")
    assert live.content == b"dvclive-png" and live.name.endswith(".png") and live.mime == "image/png"
    assert any("plots/missing.png" in w and "does not exist" in w for w in plan.warnings)
    assert any("plots" in w and "is a directory" in w for w in plan.warnings)
    urls = {name: f"https://bitbucket.org/acme/ml/downloads/{name}" for name in plan.assets}
    out = publish.rewrite(text, plan, urls)
    assert f"![cm](https://bitbucket.org/acme/ml/downloads/cml-{digest}-cm.png)" in out
    assert "data.csv#L2)" in out and "downloads/cml-" in out.split("[csv](")[1].split(")")[0]
    assert "![gone](plots/missing.png)" in out and "(https://example.com/x.png)" in out
    assert "base64" not in out


def test_same_content_same_name_other_content_other_name() -> None:
    assert publish.download_name(b"a", "x.png") == publish.download_name(b"a", "x.png")
    assert publish.download_name(b"a", "x.png") != publish.download_name(b"b", "x.png")
    assert publish.download_name(b"a", "my plot (1).png").endswith("-my_plot_1_.png")


def test_percent_encoded_data_uri() -> None:
    assert publish.decode_data_uri("data:image/svg+xml,%3Csvg%3E") == (b"<svg>", "image/svg+xml")
    assert publish.decode_data_uri("data:image/png;base64,!!!") is None


def test_a_data_uris_fragment_is_not_part_of_its_content() -> None:
    """A '#' ends the URL's data, as in a browser: the image uploaded is the one the preview shows."""
    png = base64.b64encode(b"\x89PNG\r\n").decode()
    assert publish.decode_data_uri("data:text/plain,a#b") == (b"a", "text/plain")
    assert publish.decode_data_uri(f"data:image/png;base64,{png}#view") == (b"\x89PNG\r\n", "image/png")
    assert publish.decode_data_uri("data:text/plain,a%23b") == (b"a#b", "text/plain")


class FakeDownloads:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.uploaded: list[str] = []
        self.listed = 0

    def list_downloads(self) -> Iterator[Download]:
        self.listed += 1
        return iter([Download(n, f"https://bb/{n}") for n in self.names])

    def upload_download(self, name: str, content: bytes) -> Download:
        self.uploaded.append(name)
        return Download(name, f"https://bb/{name}")


def test_upload_skips_what_is_there_and_lists_once() -> None:
    assets = {n: publish.Asset(n, b"x", "image/png", n) for n in ("cml-a", "cml-b")}
    client = FakeDownloads(["cml-a"])
    done = publish.upload(client, assets, url_for="https://u/{name}", dry_run=False)
    assert (client.listed, client.uploaded, done.reused) == (1, ["cml-b"], ["cml-a"])
    assert done.urls == {"cml-a": "https://bb/cml-a", "cml-b": "https://bb/cml-b"}


def test_upload_dry_run_uploads_nothing() -> None:
    client = FakeDownloads([])
    done = publish.upload(
        client, {"cml-a": publish.Asset("cml-a", b"", "x/y", "a")}, url_for="https://u/{name}", dry_run=True
    )
    assert client.uploaded == [] and done.urls == {"cml-a": "https://u/cml-a"} and done.uploaded == ["cml-a"]


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_preview_renders_table_and_inlines_images(tmp_path: Path) -> None:
    text = "# R\n\n![cm](https://bb/cml-x-cm.png)\n\n| Metric | New |\n|---|---:|\n| acc | 0.9 |\n\n<b>raw</b>\n"
    md_path, html_path = preview.write(
        tmp_path / "p" / "preview.md", text, {"https://bb/cml-x-cm.png": (PNG, "image/png")}
    )
    assert md_path.read_text() == text
    parsed = Collect()
    parsed.feed(html_path.read_text())
    tags = [t for t, _ in parsed.tags]
    assert "table" in tags and tags.count("td") == 2
    img = next(a for t, a in parsed.tags if t == "img")
    assert img["src"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert "b" not in tags and "<b>raw</b>" in "".join(parsed.text)  # raw HTML shown as text, like Bitbucket


def test_preview_paths() -> None:
    assert preview_twins(Path("/a/r.html")) == (Path("/a/r.md"), Path("/a/r.html"))
    assert preview_twins(Path("/a/r.md")) == (Path("/a/r.md"), Path("/a/r.html"))


# --- targets


def pr(n: int, source: str = "feat", commit: str = "abc1234def00", state: str = "OPEN") -> PullRequest:
    return PullRequest(n, "t", "", state, source, "main", commit, f"https://bb/pr/{n}")


class Finder:
    def __init__(self, by_commit: list[PullRequest], by_branch: list[PullRequest], fail: bool = False) -> None:
        self.by_commit, self.by_branch, self.fail = by_commit, by_branch, fail
        self.calls: list[str] = []

    def pull_requests_for_commit(self, commit: str) -> list[PullRequest]:
        self.calls.append("commit")
        if self.fail:
            raise BitbucketError("404 not found", 404)
        return self.by_commit

    def list_pull_requests(self, *, source_branch: str | None = None, state: str = "OPEN") -> Iterator[PullRequest]:
        self.calls.append(f"branch:{source_branch}")
        return iter(self.by_branch)

    def get_pull_request(self, pr_id: int) -> PullRequest:
        self.calls.append(f"get:{pr_id}")
        if pr_id == 404:
            raise BitbucketError("not found", 404)
        return pr(pr_id)


class Ctx:
    def __init__(self, pr_id: int | None = None, commit: str = "abc1234def0011", branch: str = "feat") -> None:
        self.pr_id, self.commit, self.branch = pr_id, commit, branch


def test_build_pr_id_wins_without_searching() -> None:
    f = Finder([pr(1)], [pr(2)])
    target, found, _ = resolve_target(parse_target("auto"), Ctx(pr_id=7), f)
    assert target == PrTarget(7) and found is not None and f.calls == ["get:7"]


def test_open_pr_for_commit_preferred_then_branch() -> None:
    f = Finder([pr(3, state="MERGED"), pr(4, source="other", commit="zzz"), pr(5)], [pr(6)])
    assert resolve_target(parse_target("auto"), Ctx(), f)[0] == PrTarget(5)
    f = Finder([], [pr(6)])
    assert resolve_target(parse_target("auto"), Ctx(), f)[0] == PrTarget(6)
    f = Finder([], [pr(6)], fail=True)  # the commit-links app is not installed: the branch still works
    target, _, notes = resolve_target(parse_target("auto"), Ctx(), f)
    assert target == PrTarget(6) and notes


def test_auto_falls_back_to_commit_but_pr_is_an_error() -> None:
    f = Finder([], [])
    assert resolve_target(parse_target("auto"), Ctx(), f)[0] == CommitTarget("abc1234def0011")
    with pytest.raises(ReportError, match=r"TARGET: 'pr'.*no open pull request"):
        resolve_target(parse_target("pr"), Ctx(), f)


def test_explicit_targets() -> None:
    f = Finder([], [])
    assert resolve_target(parse_target("commit"), Ctx(), f)[0] == CommitTarget("abc1234def0011")
    assert resolve_target(parse_target("commit/ABCDEF1"), Ctx(), f)[0] == CommitTarget("abcdef1")
    assert resolve_target(parse_target("pr/9"), Ctx(), f)[0] == PrTarget(9)
    with pytest.raises(ReportError, match="pull request #404 does not exist"):
        resolve_target(parse_target("pr/404"), Ctx(), f)


@pytest.mark.parametrize("bad", ["pr/0", "pr/x", "commit/12", "issue/1", "prs"])
def test_bad_target(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one of auto, pr, commit, pr/<id>, commit/<sha>"):
        parse_target(bad)
    (tmp_path / "r.md").write_text("# r\n")
    with pytest.raises(ConfigError, match=rf"^TARGET: '{re.escape(bad)}' is not valid; one of auto, pr"):
        load_report({"BITBUCKET_CLONE_DIR": str(tmp_path), "REPORT_FILE": "r.md", "TARGET": bad})

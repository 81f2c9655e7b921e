"""Nothing outside the clone, and nothing in .git, is read, uploaded, inlined or committed (issue 13).

Every test runs the real entry point against the local Bitbucket, the way a hostile report or
pipeline configuration would reach it, and then looks at what Bitbucket received.
"""

from __future__ import annotations

import base64
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import output_lines, run_pipe

from pipe.report.safe_urls import browser_view

OUTSIDE_SECRET = b"TOP-SECRET-outside-the-clone-7f3a"
GIT_SECRET = b'[remote "origin"]\n\turl = https://x-token-auth:GIT-TOKEN-in-config-91c2@bitbucket.org/acme/ml\n'
PNG = b"\x89PNG\r\n\x1a\nfine-plot"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone with a .git holding the token, a plot, and symlinks that point out of it or into .git."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(OUTSIDE_SECRET)
    (outside / "secret.png").write_bytes(OUTSIDE_SECRET)
    root = tmp_path / "clone"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_bytes(GIT_SECRET)
    (root / ".GIT").mkdir()  # a second spelling, on a case-sensitive disk: git treats it as .git
    (root / ".GIT" / "config").write_bytes(GIT_SECRET)
    (root / "plots" / "sub").mkdir(parents=True)
    (root / "plots" / "ok.png").write_bytes(PNG)
    (root / "model.bin").write_bytes(b"model")
    (root / "report.md").write_text("# Report\n")
    (root / "metrics.json").write_text('{"acc": 0.9}')
    os.symlink(outside, root / "linkdir")  # a directory symlink out of the clone
    os.symlink(outside / "secret.txt", root / "leak.txt")  # a file symlink out of the clone
    os.symlink(root / ".git" / "config", root / "cfg")  # a file symlink into .git
    os.symlink(root / ".git", root / "gitdir")  # a directory symlink to .git
    return root


def env_for(bitbucket: FakeBitbucket, clone: Path, **variables: str) -> dict[str, str]:
    return {**bitbucket.pipeline_env(), "BITBUCKET_CLONE_DIR": str(clone), **variables}


def downloads(bitbucket: FakeBitbucket) -> dict[str, bytes]:
    with bitbucket.lock:
        return {name: d.content for name, d in bitbucket.repo().downloads.items()}


def comment_raws(bitbucket: FakeBitbucket) -> list[str]:
    with bitbucket.lock:
        return [c.raw for c in bitbucket.repo().comments.values()]


def committed_files(bitbucket: FakeBitbucket) -> set[str]:
    with bitbucket.lock:
        return {path for commit in bitbucket.repo().commits.values() for path in commit.tree}


def assert_no_secret_left(bitbucket: FakeBitbucket) -> None:
    """No Download, comment or commit holds the secret outside the clone or the .git token."""
    for content in downloads(bitbucket).values():
        assert OUTSIDE_SECRET not in content and b"GIT-TOKEN" not in content
    for raw in comment_raws(bitbucket):
        assert OUTSIDE_SECRET.decode() not in raw and "GIT-TOKEN" not in raw
    with bitbucket.lock:
        for commit in bitbucket.repo().commits.values():
            for content in commit.tree.values():
                assert OUTSIDE_SECRET not in content and b"GIT-TOKEN" not in content


# Links a hostile report could hold: each leads outside the clone or into .git, in another spelling.
HOSTILE_LINKS = [
    "../../../../../../etc/passwd",
    "/proc/self/environ",
    "/etc/hostname",
    "../outside/secret.txt",
    "%2e%2e/outside/secret.png",
    "%2E%2E%2Foutside%2Fsecret.png",
    "linkdir/secret.png",
    "linkdir/../outside/secret.txt",
    "leak.txt",
    "plots/../../outside/secret.txt",
    ".git/config",
    "./.git/config",
    "a/../.git/config",
    ".GIT/config",
    ".git./config",
    "%2egit/config",
    ".g%E2%80%8Cit/config",
    "cfg",
    "gitdir/config",
    "plots/sub/../../.git/config",
    ".git/config/",
    "linkdir/secret.txt/",
    "plots%5C..%5C..%5Coutside%5Csecret.txt",
    "file:///etc/passwd",
    "file:../outside/secret.txt",
]


def test_a_report_links_nothing_outside_the_clone_or_in_git_and_says_so(bitbucket: FakeBitbucket, clone: Path) -> None:
    body = "# Report\n\n![ok](plots/ok.png)\n\n" + "".join(
        f"![x{i}]({link})\n\n" for i, link in enumerate(HOSTILE_LINKS)
    )
    body += '[ref]: ../outside/secret.txt\n\n[ref2]: <.git/config>\n\n<img src="../outside/secret.png">\n'
    (clone / "report.md").write_text(body)

    proc = run_pipe(env_for(bitbucket, clone, COMMAND="report", REPORT_FILE="report.md"), cwd=clone)
    lines = output_lines(proc)
    assert proc.returncode == 0, lines

    # Only the plot inside the clone was uploaded.
    assert list(downloads(bitbucket).values()) == [PNG]
    assert_no_secret_left(bitbucket)
    [raw] = comment_raws(bitbucket)
    for i, link in enumerate(HOSTILE_LINKS):
        assert f"![x{i}]({link})" in raw, f"{link} was not left as written"
        if not link.startswith("file:"):
            assert any(repr(link) in line and "left as is" in line for line in lines), f"no warning names {link}"
    assert "[ref]: ../outside/secret.txt" in raw and "[ref2]: <.git/config>" in raw


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"REPORT_FILE": "/proc/self/environ"}, "REPORT_FILE"),
        ({"REPORT_FILE": "/etc/hostname"}, "REPORT_FILE"),
        ({"REPORT_FILE": "../outside/secret.txt"}, "REPORT_FILE"),
        ({"REPORT_FILE": "linkdir/secret.txt"}, "REPORT_FILE"),
        ({"REPORT_FILE": "linkdir/../outside/secret.txt"}, "REPORT_FILE"),
        ({"REPORT_FILE": "leak.txt"}, "REPORT_FILE"),
        ({"REPORT_FILE": ".git/config"}, "REPORT_FILE"),
        ({"REPORT_FILE": "./.git/config"}, "REPORT_FILE"),
        ({"REPORT_FILE": "plots/../.git/config"}, "REPORT_FILE"),
        ({"REPORT_FILE": ".GIT/config"}, "REPORT_FILE"),
        ({"REPORT_FILE": "cfg"}, "REPORT_FILE"),
        ({"REPORT_FILE": "gitdir/config"}, "REPORT_FILE"),
        ({"REPORT_FILE": "plots/"}, "REPORT_FILE"),
        ({"REPORT_FILE": "report.md", "METRICS_FILE": "/proc/self/environ"}, "METRICS_FILE"),
        ({"REPORT_FILE": "report.md", "METRICS_FILE": "../outside/secret.txt"}, "METRICS_FILE"),
        ({"REPORT_FILE": "report.md", "METRICS_FILE": "leak.txt"}, "METRICS_FILE"),
        ({"REPORT_FILE": "report.md", "METRICS_FILE": ".git/config"}, "METRICS_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "/tmp/preview.md"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "../preview.md"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "linkdir/preview.md"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": ".git/hooks/post-checkout"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "gitdir/preview.md"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "report.md"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "./report.html"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "METRICS_FILE": "metrics.json", "PREVIEW_FILE": "metrics.json"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "leak.md"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "model.bin/preview.md"}, "PREVIEW_FILE"),
        ({"REPORT_FILE": "report.md", "PREVIEW_FILE": "out/"}, "PREVIEW_FILE"),
    ],
)
@pytest.mark.parametrize("command", ["report", "pr"])
def test_a_path_variable_outside_the_clone_is_one_line_before_any_api_call(
    bitbucket: FakeBitbucket, clone: Path, variables: dict[str, str], named: str, command: str
) -> None:
    os.symlink(clone.parent / "outside" / "preview.md", clone / "leak.md")  # a write through it would leave the clone
    extra = {"FILES": "model.bin"} if command == "pr" else {}
    proc = run_pipe(env_for(bitbucket, clone, COMMAND=command, **extra, **variables), cwd=clone)
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith(f"✖ {named}:"), lines
    assert bitbucket.request_count() == 0
    assert not (clone.parent / "outside" / "preview.md").exists()
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_no_secret_left(bitbucket)


@pytest.mark.parametrize(
    "files",
    [
        ".git/config",
        ".git/*",
        ".git/**",
        "./.git/config",
        ".GIT/config",
        "a/../.git/config",
        ".*/config",
        "cfg",
        "gitdir/config",
        "gitdir",
        "leak.txt",
        "linkdir/secret.txt",
        "../outside/secret.txt",
        "/etc/passwd",
    ],
)
def test_pr_mode_never_commits_git_or_outside_files(bitbucket: FakeBitbucket, clone: Path, files: str) -> None:
    proc = run_pipe(env_for(bitbucket, clone, COMMAND="pr", FILES=f"model.bin {files}"), cwd=clone)
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("✖ FILES:"), lines
    assert bitbucket.request_count() == 0
    assert_no_secret_left(bitbucket)


def test_pr_mode_with_the_whole_clone_commits_everything_but_git(bitbucket: FakeBitbucket, clone: Path) -> None:
    for link in ("linkdir", "leak.txt", "cfg", "gitdir"):
        (clone / link).unlink()
    shutil_rmtree(clone / ".GIT")
    proc = run_pipe(env_for(bitbucket, clone, COMMAND="pr", FILES="."), cwd=clone)
    assert proc.returncode == 0, output_lines(proc)
    committed = committed_files(bitbucket)
    assert {"model.bin", "plots/ok.png", "report.md"} <= committed
    assert not [p for p in committed if ".git" in p.lower()]
    assert_no_secret_left(bitbucket)


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs.extend((tag, name, value or "") for name, value in attrs)


SCRIPT_LINKS = {
    "inline": "[a](javascript:alert(1))",
    "mixed case": "[b](JaVaScRiPt:alert(2))",
    "tab entity": "[c](java&#x09;script:alert(3))",
    "decimal entity": "[d](&#106;avascript:alert(4))",
    "spaces": "[e](<  javascript:alert(5)>)",
    "reference": "[f][evil]\n\n[evil]: javascript:alert(6)",
    "reference mixed case": "[g][evil2]\n\n[evil2]: <JAVASCRIPT:alert(7)>",
    "vbscript": "[h](vbscript:msgbox(8))",
    "data html": "[i](data:text/html;base64,PHNjcmlwdD5hbGVydCg5KTwvc2NyaXB0Pg==)",
    "image script": "![j](javascript:alert(10))",
    "file": "[k](file:///etc/passwd)",
    "network path": "[l](//evil.example/x)",
    "svg link": "[m](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMTEpPg==)",
}
KEPT = {
    "https": ("href", "https://example.com/x"),
    "http": ("href", "http://example.com/y"),
    "mailto": ("href", "mailto:ml@example.com"),
    "relative": ("href", "docs/more.md"),
    "data image": ("src", "data:image/png;base64,iVBORw0KGgo="),
}


def test_the_html_preview_keeps_only_safe_links_and_inlines_nothing_from_outside(
    bitbucket: FakeBitbucket, clone: Path
) -> None:
    body = "# Report\n\n" + "\n\n".join(SCRIPT_LINKS.values()) + "\n\n"
    body += "[ok1](https://example.com/x) [ok2](http://example.com/y) [ok3](mailto:ml@example.com) "
    body += "[ok4](docs/more.md) ![ok5](data:image/png;base64,iVBORw0KGgo=)\n\n"
    body += (
        "![outside](../outside/secret.png) ![git](.git/config) ![ok](plots/ok.png)\n\n<img src=x onerror=alert(12)>\n"
    )
    (clone / "report.md").write_text(body)

    env = env_for(bitbucket, clone, COMMAND="report", REPORT_FILE="report.md", PREVIEW_FILE="out/preview.md")
    proc = run_pipe({**env, "PUBLISH": "false", "DRY_RUN": "true"}, cwd=clone)
    assert proc.returncode == 0, output_lines(proc)

    page = (clone / "out" / "preview.html").read_text()
    tags = Tags()
    tags.feed(page)
    urls = [(tag, name, value) for tag, name, value in tags.attrs if name in ("href", "src")]
    for tag, name, value in urls:
        seen = browser_view(value).lower()
        assert not seen.startswith(("javascript:", "vbscript:", "file:", "data:text", "//")), (tag, name, value)
        assert not (tag == "a" and seen.startswith("data:image/svg")), value
    assert not [a for a in tags.attrs if a[1].startswith("on")]
    for name, value in KEPT.values():
        assert any(n == name and v == value for _, n, v in urls), value
    # The plot inside the clone is inlined; nothing from outside the clone or from .git is.
    assert base64.b64encode(PNG).decode() in page
    for secret in (OUTSIDE_SECRET, GIT_SECRET):
        assert base64.b64encode(secret).decode()[:24] not in page and secret.decode()[:20] not in page
    assert bitbucket.request_count("POST /repositories/{workspace}/{repo_slug}/downloads") == 0

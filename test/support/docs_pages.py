"""README.md and the pages under docs/: their YAML examples, links and headings, for the tests that read them.

A page is named by its path from the repository root ("README.md", "docs/runner.md", "docs/clouds/gcp.md").
docs/pending/ holds other branches' drafts, to be folded into a page: it is not a page.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^( *)```yaml\n(.*?)^\1```", re.DOTALL | re.MULTILINE)
_ANY_FENCE = re.compile(r"^\s*```.*?^\s*```", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[str]:
    """README.md and every docs/**/*.md page, drafts in docs/pending/ left out."""
    docs = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "docs").rglob("*.md"))
    return ["README.md"] + [p for p in docs if not p.startswith("docs/pending/")]


def text(page: str) -> str:
    return (REPO_ROOT / page).read_text(encoding="utf-8")


def yaml_blocks(page: str) -> list[str]:
    """The page's ```yaml blocks in order, those indented inside a list item too (dedented)."""
    return [textwrap.dedent(body) for _, body in _FENCE.findall(text(page))]


def top_level(block: str) -> dict[str, Any]:
    """The block's top-level mapping ({} for anything else)."""
    data = yaml.safe_load(block)
    return data if isinstance(data, dict) else {}


def pipelines(page: str) -> list[str]:
    """The page's complete bitbucket-pipelines.yml examples (a block with a top-level `pipelines`)."""
    return [b for b in yaml_blocks(page) if "pipelines" in top_level(b)]


def definitions(page: str) -> list[str]:
    """The page's YAML Definition snippets: a step's `script` with the pipe in it."""
    return [b for b in yaml_blocks(page) if "script" in top_level(b)]


def example_after(page: str, title: str) -> str:
    """The first ```yaml block after the first line of the page that starts with title."""
    body = "\n" + text(page)
    _, block = _FENCE.findall(body[body.index("\n" + title) :])[0]
    return textwrap.dedent(block)


def anchors(page: str) -> set[str]:
    """The #anchors of the page's headings, as GitHub makes them (lowercase, punctuation dropped, spaces to -)."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _ANY_FENCE.sub("", text(page)), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n, candidate = 0, slug
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def relative_links(page: str) -> list[str]:
    """Every link target of the page that is not a URL with a scheme, outside code blocks and code spans."""
    prose = _INLINE_CODE.sub("", _ANY_FENCE.sub("", text(page)))
    return [t for t in _LINK.findall(prose) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def broken_link(page: str, target: str) -> str:
    """Why the page's link target does not resolve, or "" when it does (a file or folder, and its #anchor)."""
    path, _, anchor = target.partition("#")
    resolved = (REPO_ROOT / page).parent / path if path else REPO_ROOT / page
    if not resolved.exists():
        return f"{page}: {target}: no such file"
    if REPO_ROOT.resolve() not in resolved.resolve().parents and resolved.resolve() != REPO_ROOT.resolve():
        return f"{page}: {target}: outside the repository"
    if anchor:
        linked = resolved.resolve().relative_to(REPO_ROOT.resolve()).as_posix()
        if not linked.endswith(".md") or anchor not in anchors(linked):
            return f"{page}: {target}: no heading #{anchor}"
    return ""

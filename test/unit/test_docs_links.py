"""Every relative link (and #anchor) in README.md and the docs/ pages resolves, and no page is left unlinked."""

from __future__ import annotations

import docs_pages
import pytest


@pytest.mark.parametrize("page", docs_pages.pages())
def test_every_relative_link_resolves(page: str) -> None:
    broken = [docs_pages.broken_link(page, t) for t in docs_pages.relative_links(page)]
    assert [b for b in broken if b] == []


def test_every_page_is_reached_from_the_readme() -> None:
    """README -> its links -> theirs: providers.md and sources.md included, no page an orphan."""
    seen, todo = {"README.md"}, ["README.md"]
    while todo:
        page = todo.pop()
        for target in docs_pages.relative_links(page):
            path = target.partition("#")[0]
            if path.endswith(".md"):
                linked = ((docs_pages.REPO_ROOT / page).parent / path).resolve().relative_to(docs_pages.REPO_ROOT)
                if linked.as_posix() not in seen:
                    seen.add(linked.as_posix())
                    todo.append(linked.as_posix())
    assert set(docs_pages.pages()) <= seen
    assert {"docs/providers.md", "docs/sources.md"} <= {t for t in docs_pages.relative_links("README.md")}


def test_a_broken_link_and_a_missing_anchor_are_found() -> None:
    """The check itself: a missing file, a missing heading and a good anchor (GitHub's slug)."""
    assert "no such file" in docs_pages.broken_link("docs/runner.md", "nowhere.md")
    assert "no heading" in docs_pages.broken_link("docs/runner.md", "sweep.md#no-such-heading")
    assert docs_pages.broken_link("docs/runner.md", "sweep.md#details") == ""
    assert docs_pages.broken_link("README.md", "#prerequisites") == ""
    assert "runner-mode-command-runner-the-default" in docs_pages.anchors("docs/runner.md")

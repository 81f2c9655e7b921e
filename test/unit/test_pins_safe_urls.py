"""Which URLs a rendered report keeps (pipe/report/safe_urls.py), case by case, as a mutation run (issue #20)
probes it: each row would change under one of the module's mutants (a negated check, `and` for `or`, the
SVG rule turned around)."""

from __future__ import annotations

import pytest

from pipe.report.safe_urls import browser_view, is_safe_url


@pytest.mark.parametrize(
    ("url", "image", "kept"),
    [
        ("https://example.com/x", False, True),
        ("HTTP://example.com", False, True),
        ("mailto:a@example.com", False, True),
        ("plots/loss.png", True, True),
        ("/abs/path.png", True, True),
        ("#section", False, True),
        ("//evil.example/x", False, False),
        ("\\\\evil\\share", False, False),
        ("/\\evil.example", False, False),
        ("javascript:alert(1)", False, False),
        ("&#106;avascript:alert(1)", False, False),
        ("java&#x09;script:alert(1)", False, False),
        (" JaVaScRiPt:alert(1)", False, False),
        ("vbscript:x", False, False),
        ("file:///etc/passwd", True, False),
        ("data:image/png;base64,AAAA", True, True),
        ("data:image/png;base64,AAAA", False, True),
        ("data:image/svg+xml;base64,PHN2Zz4=", True, True),  # an <img> runs no script
        ("data:image/svg+xml;base64,PHN2Zz4=", False, False),  # a link opens it as a document
        ("DATA:IMAGE/SVG+XML,<svg>", False, False),
        ("data:text/html,<script>", True, False),
        ("data:image/", True, False),
    ],
)
def test_a_report_keeps_only_the_urls_a_browser_cannot_turn_against_the_reader(
    url: str, image: bool, kept: bool
) -> None:
    assert is_safe_url(url, image=image) is kept


def test_the_browser_view_drops_controls_and_spaces_and_decodes_references() -> None:
    assert browser_view(" \x01ja\tva&#115;cript :x\x7f") == "javascript:x"

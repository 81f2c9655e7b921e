"""is_safe_url's default (pipe/report/safe_urls.py), as a mutation run (issue #20) probes it: a URL judged
without saying where it sits is judged as a link, the stricter rule, so an SVG data: URL is refused."""

from __future__ import annotations

from pipe.report.safe_urls import is_safe_url

SVG = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4="


def test_a_url_judged_without_image_is_judged_as_a_link_and_an_svg_data_url_is_refused() -> None:
    """An SVG opened as a document (a link) may run its script; only an <img> may keep it. Kills: L33
    ReplaceFalseWithTrue (`image: bool = True`: the SVG data: URL kept by default)."""
    assert is_safe_url(SVG) is False
    assert is_safe_url(SVG, image=True) is True
    assert is_safe_url("data:image/png;base64,AAAA") is True

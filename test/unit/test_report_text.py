"""Pure text logic: the marker, finding links, truncation."""

from __future__ import annotations

import markdown
import pytest

from pipe.report import size
from pipe.report.links import find_refs, replace_refs
from pipe.report.marker import add_marker, has_marker, marker_line


def test_marker_is_invisible_when_rendered_and_found_in_raw() -> None:
    raw = add_marker("# Report\n\nbody", "train run")
    html = markdown.markdown(raw)
    assert "cml-runner" not in html and "watermark" not in html
    assert html.startswith("<h1>Report</h1>")
    assert has_marker(raw, "train run")
    assert not has_marker(raw, "eval run")
    assert not has_marker(raw, "")
    assert has_marker(add_marker("x", ""), "")


def test_marker_tolerates_any_title() -> None:
    title = 'quotes " and\nnewlines ] )'
    line = marker_line(title)
    assert "\n" not in line and '"' not in line.split('"', 1)[1].rstrip('"')
    assert has_marker(add_marker("x", title), title)


def test_marker_in_quoted_text_does_not_count() -> None:
    raw = "someone wrote:\n> " + marker_line("")
    assert not has_marker(raw, "")


REPORT = """# Results
![cm](plots/cm.png "Confusion") and [data](<my data.csv>) `![no](code.png)`
```
![no](fenced.png)
```
[ref]: ./nested/deep/roc.png
![x](data:image/png;base64,AAAA) [web](https://example.com/a_(b)) [top](#results)
"""


def test_find_refs_skips_code() -> None:
    urls = [r.url for r in find_refs(REPORT)]
    assert urls == [
        "plots/cm.png",
        "my data.csv",
        "./nested/deep/roc.png",
        "data:image/png;base64,AAAA",
        "https://example.com/a_(b)",
        "#results",
    ]


def test_replace_refs_touches_only_urls() -> None:
    refs = find_refs(REPORT)
    out = replace_refs(REPORT, {refs[0].start: "https://x/a.png", refs[1].start: "https://x/my data.csv"})
    assert '![cm](https://x/a.png "Confusion")' in out
    assert "[data](<https://x/my data.csv>)" in out
    assert "`![no](code.png)`" in out and "![no](fenced.png)" in out


def test_fit_keeps_short_reports() -> None:
    assert size.fit("short", 100) == ("short", False)


def test_fit_cuts_at_a_line_and_says_so() -> None:
    body = "".join(f"line {i}\n" for i in range(5000))
    out, cut = size.fit(body, 2000, "https://bitbucket.org/a/b/downloads/cml-x-report.md")
    assert cut and len(out) <= 2000
    assert "Report truncated" in out and "cml-x-report.md" in out
    kept = out.split("\n\n---\n")[0]
    assert kept.endswith("\n") is False and kept.splitlines()[-1].startswith("line ")


def test_fit_closes_an_open_code_block() -> None:
    body = "intro\n```\n" + "x = 1\n" * 1000 + "```\n"
    out, cut = size.fit(body, 500)
    assert cut
    fences = [line for line in out.splitlines() if line.startswith("```")]
    assert len(fences) == 2
    html = markdown.markdown(out, extensions=["fenced_code"])
    assert "<strong>Report truncated</strong>" in html


def test_limit_is_below_bitbucket_server_documented_maximum() -> None:
    assert size.COMMENT_LIMIT < 32768


def test_fit_refuses_an_impossible_limit() -> None:
    with pytest.raises(ValueError):
        size.fit("x" * 100, 10)

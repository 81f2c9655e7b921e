"""Find the URLs of images, links and link reference definitions in markdown, outside code.

A small scanner, not a full CommonMark parser: it covers what reports contain
(`![alt](path "title")`, `[text](<path with spaces>)`, `[id]: path`, dvclive's
`data:` images) and leaves fenced code blocks and code spans alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
# [text](url "title") or ![alt](url): url is <...> or a run of non-space characters with balanced parentheses.
_INLINE = re.compile(
    r"!?\[(?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.)*\])*\]"
    r"\(\s*(?P<url><[^<>\n]*>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))+)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
)
_DEFINITION = re.compile(r"^ {0,3}\[(?:[^\[\]\\]|\\.)+\]:[ \t]*\n?[ \t]*(?P<url><[^<>\n]*>|\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Ref:
    start: int  # span of the URL in the markdown, angle brackets included
    end: int
    url: str  # without angle brackets, backslash escapes removed


def _code_ranges(text: str) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _FENCE.search(text, pos)
        if not m:
            break
        fence = m.group(1)
        closing = re.compile(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$", re.MULTILINE)
        line_end = text.find("\n", m.end())
        if line_end == -1:
            ranges.append((m.start(), len(text)))
            break
        c = closing.search(text, line_end + 1)
        end = c.end() if c else len(text)
        ranges.append((m.start(), end))
        pos = end
    outside = _outside(text, ranges)
    for start, end in outside:
        for s in _CODE_SPAN.finditer(text, start, end):
            ranges.append((s.start(), s.end()))
    return sorted(ranges)


def _outside(text: str, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for start, end in sorted(ranges):
        out.append((pos, start))
        pos = end
    out.append((pos, len(text)))
    return out


def _clean(url: str) -> str:
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1]
    return re.sub(r"\\(.)", r"\1", url)


def find_refs(text: str) -> list[Ref]:
    """Every link/image/definition URL outside code, in document order."""
    code = _code_ranges(text)
    refs: list[Ref] = []
    for start, end in _outside(text, code):
        chunk = text[start:end]
        for pattern in (_INLINE, _DEFINITION):
            for m in pattern.finditer(chunk):
                s, e = m.span("url")
                refs.append(Ref(start + s, start + e, _clean(m.group("url"))))
    return sorted(set(refs), key=lambda r: r.start)


def replace_refs(text: str, new_urls: dict[int, str]) -> str:
    """Replace the URL of each Ref (keyed by its start) with a new URL; other text is untouched."""
    refs = {r.start: r for r in find_refs(text)}
    out, pos = [], 0
    for start in sorted(new_urls):
        ref = refs[start]
        out.append(text[pos : ref.start])
        url = new_urls[start]
        out.append(f"<{url}>" if re.search(r"[\s()]", url) else url)
        pos = ref.end
    out.append(text[pos:])
    return "".join(out)

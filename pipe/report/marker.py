"""The invisible marker that lets UPDATE find the pipe's own earlier comment.

Bitbucket escapes HTML in comments, so an HTML comment (`<!-- -->`) would show as
text. A link reference definition that nothing refers to renders as nothing in
CommonMark and in Python-Markdown alike, and `content.raw` returns it as posted:

    [cml-runner-report]: # "cml-runner report watermark=<key>"

The key is a hash of WATERMARK_TITLE (so any title, quotes or newlines included,
gives a well-formed, exactly matchable marker); `-` when there is no title.
"""

from __future__ import annotations

import hashlib
import re

LABEL = "cml-runner-report"
_MARKER = re.compile(r'^\[cml-runner-report\]: # "cml-runner report watermark=([0-9a-f]{16}|-)"[ \t]*$', re.MULTILINE)


def watermark_key(title: str) -> str:
    if not title:
        return "-"
    return hashlib.sha256(title.encode()).hexdigest()[:16]


def marker_line(title: str) -> str:
    return f'[{LABEL}]: # "cml-runner report watermark={watermark_key(title)}"'


def add_marker(body: str, title: str) -> str:
    """The marker goes first (truncation never reaches it), then a blank line, then the report."""
    return f"{marker_line(title)}\n\n{body}"


def has_marker(raw: str, title: str) -> bool:
    key = watermark_key(title)
    return any(m.group(1) == key for m in _MARKER.finditer(raw))

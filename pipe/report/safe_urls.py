"""Which link and image URLs a rendered report may keep: http, https, mailto, relative, data:image.

A browser decodes character references in attribute values, strips leading and trailing C0 controls
and spaces and removes tabs and newlines anywhere in a URL before it reads the scheme (WHATWG URL
Standard, "basic URL parser"), and Python-Markdown writes `&#106;` in a link through unchanged. So
`&#106;avascript:`, `java&#x09;script:` and ` JaVaScRiPt:` are all `javascript:` to the browser, and
the scheme is judged on the URL as the browser will see it. Anything that is not on the list, and
network-path references (`//host`, `\\\\host`: on Windows a page opened from disk fetches those over
SMB), is refused.
"""

from __future__ import annotations

import html
import re

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
# Attributes that hold a URL in HTML; a Markdown rendering only makes href and src, the rest is belt and braces.
URL_ATTRIBUTES = frozenset(
    {"href", "src", "srcset", "action", "formaction", "background", "poster", "cite", "xlink:href", "data"}
)
_STRIPPED = re.compile(r"[\x00-\x20\x7f]+")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# data: images only; SVG may carry script when opened as a document (a link), not as an <img>.
_DATA_IMAGE = re.compile(r"^data:image/[a-z0-9.+-]+[;,]", re.IGNORECASE)


def browser_view(url: str) -> str:
    """The URL as a browser reads its scheme: references decoded, controls and spaces removed."""
    return _STRIPPED.sub("", html.unescape(url))


def is_safe_url(url: str, *, image: bool = False) -> bool:
    seen = browser_view(url)
    match = _SCHEME.match(seen)
    if match is None:
        # Relative, unless it names another host: //host/x, \\host\x, /\host (browsers read \ as /).
        return not re.match(r"^[/\\]{2}", seen)
    scheme = match.group(1).lower()
    if scheme in SAFE_SCHEMES:
        return True
    if scheme == "data" and _DATA_IMAGE.match(seen):
        return image or not seen.lower().startswith("data:image/svg")
    return False

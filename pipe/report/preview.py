"""PREVIEW_FILE: the exact markdown that would be posted, and an HTML rendering of it.

Rendered with Python-Markdown (tables, fenced code). Raw HTML is shown as text,
as Bitbucket does; images whose content we have (local files, uploads, data:
URIs) are inlined as data: URIs so the page works offline. The page is opened
from disk in a browser, so every link and image source that is not http(s),
mailto, relative or a data:image is made inert (pipe/report/safe_urls.py).
Markdown is imported only when a preview is rendered: config loading needs paths() alone.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipe import paths as clone_paths
from pipe.report.safe_urls import URL_ATTRIBUTES, is_safe_url

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

_STYLE = (
    "body{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.5}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
    "img{max-width:100%}pre{background:#f4f5f7;padding:8px;overflow:auto}"
)
# After every Python-Markdown treeprocessor (inline at 20, prettify at 10, unescape at 0): the sanitizer
# must see the attribute values as they will be written.
_LAST = -100
REMOVED_TITLE = "link removed: only http, https, mailto, relative and data:image links are kept"


def _inline(root: ET.Element, images: Mapping[str, tuple[bytes, str]]) -> None:
    for img in root.iter("img"):
        found = images.get(img.get("src", ""))
        if found is not None and found[1].lower().startswith("image/"):
            content, mime = found
            img.set("src", f"data:{mime};base64,{base64.b64encode(content).decode()}")


def make_inert(root: ET.Element) -> None:
    """Drop every URL attribute a browser could run or that leaves the page's kind of link; drop on* handlers."""
    for element in root.iter():
        for name in list(element.attrib):
            low = name.lower()
            if low.startswith("on"):
                del element.attrib[name]
            elif low in URL_ATTRIBUTES and not is_safe_url(element.attrib[name], image=element.tag == "img"):
                del element.attrib[name]
                element.set("title", REMOVED_TITLE)


def _extension(images: Mapping[str, tuple[bytes, str]]) -> Any:
    from markdown.extensions import Extension
    from markdown.treeprocessors import Treeprocessor

    class _Finish(Treeprocessor):
        def run(self, root: ET.Element) -> None:
            _inline(root, images)
            make_inert(root)

    class _Safe(Extension):
        def extendMarkdown(self, md: Any) -> None:  # Python-Markdown's name
            md.treeprocessors.register(_Finish(md), "cml_inline_and_sanitize", _LAST)
            md.preprocessors.deregister("html_block")  # Bitbucket escapes raw HTML: show it as text
            md.inlinePatterns.deregister("html")

    return _Safe()


def render(text: str, images: Mapping[str, tuple[bytes, str]], title: str = "CML report preview") -> str:
    import markdown

    body = markdown.markdown(text, extensions=["tables", "fenced_code", _extension(images)])
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def paths(preview_file: Path) -> tuple[Path, Path]:
    """PREVIEW_FILE names the markdown (an .html name gives its .md twin); the HTML sits next to it."""
    md = preview_file.with_suffix(".md") if preview_file.suffix.lower() in (".html", ".htm") else preview_file
    return md, md.with_suffix(".html")


def write(preview_file: Path, text: str, images: Mapping[str, tuple[bytes, str]]) -> tuple[Path, Path]:
    """preview_file was checked by the config (inside the clone, no symlink, not an input); writes never follow
    a symlink put there since."""
    md_path, html_path = paths(preview_file)
    clone_paths.write_bytes(md_path, text.encode("utf-8"))
    clone_paths.write_bytes(html_path, render(text, images).encode("utf-8"))
    return md_path, html_path

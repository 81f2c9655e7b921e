"""PREVIEW_FILE: the exact markdown that would be posted, and an HTML rendering of it.

Rendered with Python-Markdown (tables, fenced code). Raw HTML is shown as text,
as Bitbucket does; images whose content we have (local files, uploads, data:
URIs) are inlined as data: URIs so the page works offline.
"""

from __future__ import annotations

import base64
import html
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

_STYLE = (
    "body{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.5}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
    "img{max-width:100%}pre{background:#f4f5f7;padding:8px;overflow:auto}"
)


class _Inline(Treeprocessor):
    def __init__(self, md: markdown.Markdown, images: Mapping[str, tuple[bytes, str]]) -> None:
        super().__init__(md)
        self.images = images

    def run(self, root: ET.Element) -> None:
        for img in root.iter("img"):
            found = self.images.get(img.get("src", ""))
            if found is not None:
                content, mime = found
                img.set("src", f"data:{mime};base64,{base64.b64encode(content).decode()}")


class _InlineImages(Extension):
    def __init__(self, images: Mapping[str, tuple[bytes, str]]) -> None:
        super().__init__()
        self.images = images

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # Python-Markdown's name
        md.treeprocessors.register(_Inline(md, self.images), "cml_inline_images", 0)
        md.preprocessors.deregister("html_block")  # Bitbucket escapes raw HTML: show it as text
        md.inlinePatterns.deregister("html")


def render(text: str, images: Mapping[str, tuple[bytes, str]], title: str = "CML report preview") -> str:
    body = markdown.markdown(text, extensions=["tables", "fenced_code", _InlineImages(images)])
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def paths(preview_file: Path) -> tuple[Path, Path]:
    """PREVIEW_FILE names the markdown (an .html name gives its .md twin); the HTML sits next to it."""
    md = preview_file.with_suffix(".md") if preview_file.suffix.lower() in (".html", ".htm") else preview_file
    return md, md.with_suffix(".html")


def write(preview_file: Path, text: str, images: Mapping[str, tuple[bytes, str]]) -> tuple[Path, Path]:
    md_path, html_path = paths(preview_file)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(text, encoding="utf-8")
    html_path.write_text(render(text, images), encoding="utf-8")
    return md_path, html_path

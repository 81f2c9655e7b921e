"""PUBLISH: local files and data: images in the report go to the repository's Downloads.

Names are content-addressed (`cml-<sha256[:16]>-<basename>`), so a second run
finds them already uploaded and uploads nothing. Planning reads files only;
`upload` is the one function here that talks to Bitbucket.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, unquote_to_bytes

from pipe import paths
from pipe.bitbucket.models import Download
from pipe.report.links import find_refs, replace_refs

# DVC's git-ignored local config: `dvc remote modify --local` writes the remote's keys there
# (dvc.org/doc/user-guide/project-structure/internal-files). Never published, like .git/.
DVC_LOCAL_CONFIG = ".dvc/config.local"

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_DATA = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^;,]*)*?)(?P<b64>;base64)?,(?P<data>.*)$", re.DOTALL
)
_EXT = {"image/jpeg": ".jpg", "image/svg+xml": ".svg", "text/plain": ".txt"}


@dataclass(frozen=True)
class Asset:
    name: str  # the Downloads file name
    content: bytes = field(repr=False)
    mime: str
    source: str  # the local path, or "data: URI"


@dataclass
class PublishPlan:
    assets: dict[str, Asset] = field(default_factory=dict)  # by download name
    refs: dict[int, str] = field(default_factory=dict)  # markdown offset of a URL -> download name
    warnings: list[str] = field(default_factory=list)


def download_name(content: bytes, basename: str) -> str:
    digest = hashlib.sha256(content).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", basename).strip("._")[-80:]
    return f"cml-{digest}-{safe}" if safe else f"cml-{digest}"


def decode_data_uri(url: str) -> tuple[bytes, str] | None:
    m = _DATA.match(url)
    if not m:
        return None
    mime = (m.group("mime") or "text/plain").lower()
    # The URL parser ends the data at a '#': the fragment is not content (WHATWG URL and fetch's data: URL processor).
    data = m.group("data").split("#", 1)[0]
    try:
        content = (
            base64.b64decode(re.sub(r"\s+", "", data), validate=True) if m.group("b64") else unquote_to_bytes(data)
        )
    except (binascii.Error, ValueError):
        return None
    return content, mime


def _ext(mime: str) -> str:
    return _EXT.get(mime) or mimetypes.guess_extension(mime) or ""


def is_local(url: str) -> bool:
    return bool(url) and not url.startswith(("#", "//", "?", "\\")) and not _SCHEME.match(url)


def link_path(url: str) -> str:
    """The file a local link names: without #fragment or ?query, percent-decoded (`%2e%2e/` is `../`)."""
    return unquote(url.split("#", 1)[0].split("?", 1)[0])


def plan(markdown: str, base_dir: Path, clone_dir: Path) -> PublishPlan:
    """Which URLs become which uploads. A local link is published only when it names a regular file inside
    the clone (pipe/paths.py, as for every path the pipe reads); any other is left as written, with a warning
    naming it. base_dir is the report's directory: links are relative to it."""
    result = PublishPlan()
    warned: set[str] = set()
    for ref in find_refs(markdown):
        asset: Asset | None = None
        if ref.url.startswith("data:"):
            decoded = decode_data_uri(ref.url)
            if decoded is None:
                _warn(result, warned, "a data: URI in the report could not be decoded; left as is")
                continue
            content, mime = decoded
            asset = Asset(download_name(content, "") + _ext(mime), content, mime, "data: URI")
        elif is_local(ref.url):
            shown = ref.url.split("#", 1)[0]
            try:
                found = paths.resolve(clone_dir, link_path(ref.url), base=base_dir)
                if found.relative == DVC_LOCAL_CONFIG:
                    raise paths.PathRefused(f"it is {DVC_LOCAL_CONFIG}, which may hold the DVC remote's credentials")
                content = paths.read_bytes(found)
            except paths.PathRefused as why:
                _warn(result, warned, f"link {shown!r}: {why}; its link is left as is")
                continue
            except OSError as err:
                _warn(result, warned, f"link {shown!r}: it cannot be read ({err.strerror}); its link is left as is")
                continue
            # A link into DVC's cache (`cache.type symlink`) resolves to an object named by its md5 alone: the
            # name as linked then gives the type and the Downloads name.
            name = found.real.name if found.real.suffix else Path(link_path(ref.url)).name
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            asset = Asset(download_name(content, name), content, mime, found.relative)
        if asset is not None:
            result.assets.setdefault(asset.name, asset)
            fragment = "#" + ref.url.split("#", 1)[1] if "#" in ref.url and is_local(ref.url) else ""
            result.refs[ref.start] = asset.name + fragment
    return result


def _warn(result: PublishPlan, warned: set[str], message: str) -> None:
    if message not in warned:
        warned.add(message)
        result.warnings.append(message)


def rewrite(markdown: str, plan: PublishPlan, urls: Mapping[str, str]) -> str:
    """Point each planned reference at its download URL (a #fragment on a local link is kept)."""
    new: dict[int, str] = {}
    for start, target in plan.refs.items():
        name, sep, fragment = target.partition("#")
        new[start] = urls[name] + (sep + fragment if sep else "")
    return replace_refs(markdown, new)


class DownloadsClient(Protocol):
    def list_downloads(self) -> Iterable[Download]: ...
    def upload_download(self, name: str, content: bytes) -> Download: ...


@dataclass
class PublishResult:
    urls: dict[str, str]  # download name -> URL
    uploaded: list[str]  # names uploaded by this run (or that would be, with DRY_RUN)
    reused: list[str]


def upload(client: DownloadsClient, assets: Mapping[str, Asset], *, url_for: str, dry_run: bool) -> PublishResult:
    """List Downloads once; upload only the names not there yet. `url_for` is a format string with {name}."""
    result = PublishResult({}, [], [])
    if not assets:
        return result
    existing = {d.name: d.html_url for d in client.list_downloads()}
    for name, asset in assets.items():
        if name in existing:
            result.urls[name] = existing[name] or url_for.format(name=name)
            result.reused.append(name)
            continue
        if dry_run:
            result.urls[name] = url_for.format(name=name)
        else:
            result.urls[name] = client.upload_download(name, asset.content).html_url or url_for.format(name=name)
        result.uploaded.append(name)
    return result

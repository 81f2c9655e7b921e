"""PUBLISH (pipe/report/publish.py) held at its edges (issue #20): which links become uploads, under which
Downloads name, with which type for the preview, and which Downloads calls a run makes. Each test's docstring
names the mutants it kills (`make mutate MODULE=publish.py`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipe import paths
from pipe.bitbucket.models import Download
from pipe.report import publish

PNG = b"\x89PNG\r\n\x1a\nfake-plot"


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "cm.png").write_bytes(PNG)
    (tmp_path / "plots" / "my plot.png").write_bytes(PNG + b"2")
    (tmp_path / "model.weights").write_bytes(b"\x00\x01")
    return tmp_path


class Downloads:
    """The repository's Downloads as the client returns them; counts the calls a run makes."""

    def __init__(self, existing: dict[str, str]) -> None:
        self.existing = existing  # name -> html_url ("" when Bitbucket's answer carried none)
        self.listed = 0
        self.uploaded: list[tuple[str, bytes]] = []
        self.answer_url = "https://bb/uploaded/{name}"

    def list_downloads(self) -> Iterator[Download]:
        self.listed += 1
        return iter([Download(name, url) for name, url in self.existing.items()])

    def upload_download(self, name: str, content: bytes) -> Download:
        self.uploaded.append((name, content))
        return Download(name, self.answer_url.format(name=name))


# --- names


def test_a_downloads_name_is_the_first_16_hex_of_the_sha256_and_the_last_80_safe_characters() -> None:
    """The name is content-addressed (a second run finds it) and bounded: 16 hex digits of the SHA-256 and
    at most the last 80 characters of the sanitised file name; a name with nothing safe left is the digest
    alone, no dangling `-`. Kills `[-80:]` moved to 79/81 and `if safe` negated."""
    long_name = "x" * 20 + "-" + "y" * 100 + ".png"
    assert publish.download_name(b"a", long_name) == f"cml-{digest(b'a')}-{long_name[-80:]}"
    assert publish.download_name(b"a", "...") == f"cml-{digest(b'a')}"
    assert publish.download_name(b"a", "") == f"cml-{digest(b'a')}"


@pytest.mark.parametrize(
    ("uri", "name_end", "mime"),
    [
        ("data:image/png;base64,iVBORw==", ".png", "image/png"),
        ("data:image/jpeg;base64,/9j/", ".jpg", "image/jpeg"),
        ("data:image/svg+xml,%3Csvg%3E", ".svg", "image/svg+xml"),
        ("data:,plain%20text", ".txt", "text/plain"),
        ("data:IMAGE/PNG;base64,iVBORw==", ".png", "image/png"),
        ("data:application/x-cml-unknown;base64,AAAA", "", "application/x-cml-unknown"),
    ],
)
def test_a_data_uri_is_published_under_its_digest_and_its_types_extension(uri: str, name_end: str, mime: str) -> None:
    """dvclive writes its plots as data: URIs: the Downloads name is the digest plus the extension of the
    type (none for a type without one), a data: URI without a type is text/plain (RFC 2397), the type is
    case-insensitive. Kills `_EXT.get(...) or guess_extension(...) or ""` with an `or` to `and`, the
    `or "text/plain"` default to `and`, and the base64 branch negated."""
    result = publish.plan(f"![p]({uri})\n", Path("/nonexistent"), Path("/nonexistent"))
    [asset] = result.assets.values()
    decoded = publish.decode_data_uri(uri)
    assert decoded is not None
    assert asset.name == f"cml-{digest(decoded[0])}{name_end}" and asset.mime == mime
    assert result.refs == {5: asset.name} and result.warnings == []  # the URL starts after "![p]("


@pytest.mark.parametrize("uri", ["data:image/png;base64", "data:image/png;base64,!!!!", "data:image/png;base64,é"])
def test_a_data_uri_that_does_not_decode_is_left_with_one_warning(uri: str) -> None:
    """A data: URI without data, with characters outside base64, or with non-ASCII text (b64decode raises a
    plain ValueError for that, not binascii.Error) is left as written with one warning, never a traceback.
    The images after it are still published. Kills `if not m` negated, the `except (binascii.Error,
    ValueError)` losing ValueError, and its `continue` turned to `break`."""
    text = f"![a]({uri})\n![b]({uri})\n![ok](data:image/png;base64,iVBORw==)\n"
    result = publish.plan(text, Path("/nonexistent"), Path("/nonexistent"))
    [asset] = result.assets.values()
    assert asset.content == b"\x89PNG" and list(result.refs.values()) == [asset.name]
    assert result.warnings == ["a data: URI in the report could not be decoded; left as is"]


# --- local links


def test_a_local_link_is_read_percent_decoded_without_its_query_and_keeps_its_fragment(clone: Path) -> None:
    """`plots/my%20plot.png?raw=1#top` names the file `plots/my plot.png`; the new link keeps `#top`. The type
    for the preview comes from the file's name (image/png), `application/octet-stream` when the name says
    nothing. Kills the split indexes of link_path and of the fragment (`[0]`/`[1]`, maxsplit 1 moved), the
    mimetype's `or` to `and`, and the fragment's `and is_local` to `or` (a local link without `#`)."""
    text = "![a](plots/my%20plot.png?raw=1#top)\n[w](model.weights)\n![d](data:text/plain,a%23b)\n"
    result = publish.plan(text, clone, clone)
    by_source = {a.source: a for a in result.assets.values()}
    plot = by_source["plots/my plot.png"]
    assert plot.content == PNG + b"2" and plot.mime == "image/png"
    assert plot.name == f"cml-{digest(PNG + b'2')}-my_plot.png"
    assert by_source["model.weights"].mime == "application/octet-stream"
    data = by_source["data: URI"]
    assert data.content == b"a#b" and data.mime == "text/plain"
    assert sorted(result.refs.values()) == sorted([plot.name + "#top", by_source["model.weights"].name, data.name])
    urls = {name: f"https://bb/d/{name}" for name in result.assets}
    out = publish.rewrite(text, result, urls)
    assert f"![a](https://bb/d/{plot.name}#top)" in out and f"![d](https://bb/d/{data.name})" in out


def test_a_fragment_with_a_hash_inside_keeps_all_of_it(clone: Path) -> None:
    """Only the first `#` starts the fragment: `cm.png#a#b` keeps `#a#b`. Kills the fragment's maxsplit 1
    moved to 2 and its index moved."""
    result = publish.plan("![c](plots/cm.png#a#b)\n", clone, clone)
    [target] = result.refs.values()
    assert target == f"cml-{digest(PNG)}-cm.png#a#b"


@pytest.mark.parametrize(
    "url", ["", "#section", "//cdn.example.com/x.png", "?x=1", "\\\\server\\share\\x.png", "https://e.com/a.png",
            "mailto:a@b.c", "HTTP://E.COM/x.png"],
)  # fmt: skip
def test_links_that_are_not_local_files_are_neither_read_nor_warned_about(url: str, clone: Path) -> None:
    """Anchors, protocol-relative and scheme links, queries and UNC paths are not files of the clone: nothing
    is read, nothing is warned. Kills is_local's `and`s to `or` and its negations dropped."""
    assert publish.is_local(url) is False
    result = publish.plan(f"[x](<{url}>)\n", clone, clone)
    assert (result.assets, result.refs, result.warnings) == ({}, {}, [])


def test_local_paths_are_local() -> None:
    """A relative path is local, a `scheme:` is not. Kills is_local's negations dropped."""
    assert publish.is_local("plots/cm.png") and publish.is_local("./a b.png") and publish.is_local("a:b/c.png") is False


def test_a_file_that_cannot_be_read_is_left_as_written_with_its_reason(
    clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link to a file the runner may not read (EACCES; the tests run as root, so the read itself is made
    to fail) is left as written with the reason, never a traceback; the links after it are still published.
    Kills the `except OSError` branch replaced and its `continue` turned to `break`."""
    read = paths.read_bytes

    def refuse(path: paths.ClonePath | Path, *, max_bytes: int | None = None) -> bytes:
        if Path(getattr(path, "real", path)).name == "cm.png":
            raise PermissionError(13, "Permission denied")
        return read(path, max_bytes=max_bytes)

    monkeypatch.setattr(paths, "read_bytes", refuse)
    result = publish.plan("![c](plots/cm.png#x)\n![w](model.weights)\n", clone, clone)
    assert [a.source for a in result.assets.values()] == ["model.weights"] and len(result.refs) == 1
    assert result.warnings == ["link 'plots/cm.png': it cannot be read (Permission denied); its link is left as is"]


# --- the Downloads calls


def test_nothing_to_publish_makes_no_downloads_call() -> None:
    """A report without local files or data: images lists nothing (one API call saved per run, and a token
    without the Downloads scope still posts its comment). Kills `if not assets` negated or dropped."""
    client = Downloads({"cml-x": "https://bb/x"})
    done = publish.upload(client, {}, url_for="https://u/{name}", dry_run=False)
    assert (client.listed, client.uploaded, done.urls) == (0, [], {})


def test_a_download_without_a_url_gets_the_repositorys_download_url() -> None:
    """Bitbucket's answers may lack `links.self.href`: an existing download, or a fresh upload, without one is
    linked by the repository's Downloads URL. Kills both `html_url or url_for.format(...)` with `or` to `and`
    and the `name in existing` test negated."""
    assets = {n: publish.Asset(n, n.encode(), "image/png", n) for n in ("cml-old", "cml-new")}
    client = Downloads({"cml-old": ""})
    client.answer_url = ""
    done = publish.upload(client, assets, url_for="https://u/{name}", dry_run=False)
    assert done.urls == {"cml-old": "https://u/cml-old", "cml-new": "https://u/cml-new"}
    assert (client.uploaded, done.reused, done.uploaded) == ([("cml-new", b"cml-new")], ["cml-old"], ["cml-new"])

    client = Downloads({"cml-old": "https://bb/old"})
    done = publish.upload(client, assets, url_for="https://u/{name}", dry_run=False)
    assert done.urls == {"cml-old": "https://bb/old", "cml-new": "https://bb/uploaded/cml-new"}


def test_a_dry_run_still_reuses_what_is_there_and_uploads_nothing() -> None:
    """DRY_RUN lists (read-only) and says which names it would upload; what is there is reused with its own
    URL. Kills `if dry_run` negated."""
    assets = {n: publish.Asset(n, b"x", "image/png", n) for n in ("cml-old", "cml-new")}
    client = Downloads({"cml-old": "https://bb/old"})
    done = publish.upload(client, assets, url_for="https://u/{name}", dry_run=True)
    assert client.uploaded == [] and done.uploaded == ["cml-new"] and done.reused == ["cml-old"]
    assert done.urls == {"cml-old": "https://bb/old", "cml-new": "https://u/cml-new"}

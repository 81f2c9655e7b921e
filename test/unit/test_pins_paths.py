"""File containment (pipe/paths.py) at the edges a mutation run (issue #20) probes: the size limit at its
last allowed byte, symlinks swapped in after the check (never followed, reading or writing), a FIFO that
must not hang the pipe, the mode of what the pipe writes, and the PREVIEW_FILE twins.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from pipe.paths import PathRefused, preview_twins, read_bytes, resolve, write_bytes


def test_a_file_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    """Kills `len(content) > max_bytes` turned into `>=`, and `read(max_bytes + 1)` into `max_bytes - 1`
    (an oversized file would be read cut short instead of refused)."""
    (tmp_path / "ok.txt").write_bytes(b"x" * 10)
    (tmp_path / "big.txt").write_bytes(b"x" * 11)
    assert read_bytes(resolve(tmp_path, "ok.txt"), max_bytes=10) == b"x" * 10
    with pytest.raises(PathRefused, match="larger than the 10 bytes allowed"):
        read_bytes(resolve(tmp_path, "big.txt"), max_bytes=10)
    assert read_bytes(resolve(tmp_path, "big.txt")) == b"x" * 11


def test_a_symlink_swapped_in_after_the_check_is_not_followed(tmp_path: Path) -> None:
    """Between resolve() and the read or write, a step could replace the file by a link to a secret.
    Kills O_NOFOLLOW dropped from the flags (`|` turned into `&`) in read_bytes and write_bytes."""
    clone = tmp_path / "clone"
    clone.mkdir()
    secret = tmp_path / "secret"
    secret.write_text("token")
    (clone / "report.md").write_text("fine")
    checked = resolve(clone, "report.md")
    (clone / "report.md").unlink()
    (clone / "report.md").symlink_to(secret)
    with pytest.raises(OSError) as refused:
        read_bytes(checked)
    assert refused.value.errno == errno.ELOOP
    to_write = resolve(clone, "preview.md", must_exist=False)
    to_write.real.symlink_to(secret)
    with pytest.raises(OSError) as refused:
        write_bytes(to_write.real, b"overwritten")
    assert refused.value.errno == errno.ELOOP
    assert secret.read_text() == "token"


def test_a_fifo_swapped_in_is_refused_without_blocking(tmp_path: Path) -> None:
    """Kills O_NONBLOCK dropped (the open would wait forever for a writer) and the regular-file check of
    the opened file negated."""
    (tmp_path / "metrics.json").write_text("{}")
    checked = resolve(tmp_path, "metrics.json")
    (tmp_path / "metrics.json").unlink()
    os.mkfifo(tmp_path / "metrics.json")
    with pytest.raises(PathRefused, match="not a regular file"):
        read_bytes(checked)


def test_what_the_pipe_writes_is_readable_by_all_and_executable_by_none(tmp_path: Path) -> None:
    """Kills the mode 0o644 of write_bytes changed; and missing directories are created inside the clone."""
    previous = os.umask(0o022)
    try:
        target = resolve(tmp_path, "out/deep/preview.md", must_exist=False)
        write_bytes(target.real, b"# preview")
    finally:
        os.umask(previous)
    assert target.relative == "out/deep/preview.md"
    assert stat.S_IMODE((tmp_path / "out/deep/preview.md").stat().st_mode) == 0o644
    write_bytes(target.real, b"#")  # truncated, not appended
    assert (tmp_path / "out/deep/preview.md").read_bytes() == b"#"


def test_preview_twins_whatever_the_case_of_the_html_suffix() -> None:
    """Kills the `.html`/`.htm` suffix test negated or made case-sensitive."""
    assert preview_twins(Path("r/preview.HTML")) == (Path("r/preview.md"), Path("r/preview.html"))
    assert preview_twins(Path("r/p.htm")) == (Path("r/p.md"), Path("r/p.html"))
    assert preview_twins(Path("r/p.md")) == (Path("r/p.md"), Path("r/p.html"))


def test_the_clone_root_itself_and_paths_inside_are_accepted_as_written(tmp_path: Path) -> None:
    """Kills `real != root and not real.is_relative_to(root)` turned into `or`."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/f.txt").write_text("x")
    assert resolve(tmp_path, "sub/../sub/f.txt").relative == "sub/f.txt"
    assert resolve(tmp_path, "f.txt", base=tmp_path / "sub").relative == "sub/f.txt"
    with pytest.raises(PathRefused, match="is a directory"):
        resolve(tmp_path, ".")

"""File containment (pipe/paths.py): the survivors of the first mutation run (issue #20) that change what a
user sees. A path of blanks, a Windows-style absolute path, and a report link to a file that is not there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipe.paths import PathRefused, resolve
from pipe.report import publish


@pytest.mark.parametrize("blank", [" ", "   ", "\u3000"])
def test_a_path_of_blanks_is_refused_as_empty_even_when_a_file_has_that_name(tmp_path: Path, blank: str) -> None:
    """Kills `not written or not written.strip()` turned into `and`. With `and`, only "" counts as empty, and
    a file really named "   " in the clone would be read, or written to as PREVIEW_FILE."""
    (tmp_path / blank).write_text("x")
    with pytest.raises(PathRefused, match="the path is empty"):
        resolve(tmp_path, blank)
    with pytest.raises(PathRefused, match="the path is empty"):
        resolve(tmp_path, blank, must_exist=False)


def test_a_path_starting_with_a_backslash_is_refused_as_absolute_on_linux_too(tmp_path: Path) -> None:
    r"""Kills `written.startswith(("/", "\\")) or os.path.isabs(written)` turned into `and`. On Linux,
    os.path.isabs("\\x") is False, so with `and` a Windows-style absolute path would be taken as the name of
    a file in the clone and read."""
    (tmp_path / "\\report.md").write_text("x")
    with pytest.raises(PathRefused, match="an absolute path is refused"):
        resolve(tmp_path, "\\report.md")
    with pytest.raises(PathRefused, match="an absolute path is refused"):
        resolve(tmp_path, "\\report.md", must_exist=False)


def test_a_report_link_to_a_missing_file_is_warned_as_missing(tmp_path: Path) -> None:
    """Kills resolve()'s default `must_exist=True` turned into False. A report link resolves with the
    default; with False, the missing file passes the check and the warning says it "cannot be read (No such
    file or directory)" instead of naming the path that does not exist."""
    with pytest.raises(PathRefused, match=r"it does not exist \("):
        resolve(tmp_path, "plots/gone.png")
    plan = publish.plan("![gone](plots/gone.png)\n", tmp_path, tmp_path)
    assert not plan.assets
    [warning] = plan.warnings
    assert "'plots/gone.png'" in warning and "it does not exist" in warning, warning

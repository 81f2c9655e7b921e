"""Leaving results for later steps of the same pipeline: <BITBUCKET_PIPE_SHARED_STORAGE_DIR>/cml-runner/."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

FOLDER = "cml-runner"  # runner.json (runner mode); pr.json and pr_url (pr mode)
MAX_READ_BYTES = 65_536  # what the pipe reads back is a few hundred bytes of its own JSON


class Warns(Protocol):
    def warning(self, msg: str) -> object: ...


def read_left(shared_dir: str, name: str) -> str | None:
    """The text an earlier pipe of this pipeline left (None: nothing there, or not readable as text)."""
    if not shared_dir:
        return None
    path = Path(shared_dir) / FOLDER / name
    try:
        if not path.is_file() or path.stat().st_size > MAX_READ_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def leave_for_later_steps(shared_dir: str, files: Mapping[str, str], log: Warns) -> None:
    """Write each file's text. What it records exists already, so a write that fails is a warning."""
    if not shared_dir:
        return
    folder = Path(shared_dir) / FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as err:
        log.warning(f"Could not leave {', '.join(files)} in {folder} for later steps ({err.strerror})")

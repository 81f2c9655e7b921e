"""The one rule for every local path the pipe reads or writes: a regular file inside the clone, never in .git.

REPORT_FILE, METRICS_FILE, PREVIEW_FILE, FILES and every local file a report links to pass through
here (report and pr mode alike). A path is taken as the user wrote it, relative to a directory
inside the clone, and resolved by the kernel's rules (symlinks first, then `..`), so `link/../x`
after a symlinked directory goes where open() would go, not where string normalisation would.
It is refused when:

- it is absolute, empty, or holds a NUL or another control character;
- any part of it, as written or as resolved, is a `.git` directory in any spelling git itself
  treats as one (`.GIT`, `.git.`, `.git `, `git~1`, `.g\u200cit`): `.git/config` holds the clone's
  token in its remote URL on Bitbucket Pipelines;
- it resolves outside the clone directory (after every symlink);
- it is not a regular file (a directory, FIFO, device or socket), for files that are read.

Whoever calls says what a refusal means: one line naming the variable for a variable, a warning
(and the link left as written) for a report link.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from pipe.errors import PipeError

# Code points HFS+ ignores when comparing names, so ".g\u200cit" is ".git" on a Mac: the list git's
# is_hfs_dotgit() skips (git/utf8.c next_hfs_char, CVE-2014-9390).
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_PROBE = ".cml-folder-probe"
_GIT_WHY = "which is never read or published (.git/config holds the clone's token)"


class PathRefused(PipeError, ValueError):
    """str() is a clause saying why ("it leads to /etc/passwd, outside the clone directory /clone")."""


@dataclass(frozen=True)
class ClonePath:
    real: Path  # absolute, every symlink resolved: the file that is read or written
    relative: str  # posix path of `real` relative to the clone's real root


def is_git_dir_name(part: str) -> bool:
    """True for a path component git treats as its own directory on some filesystem.

    git refuses these in any tree it checks out (read-cache.c verify_dotfile: ".git" case-insensitively;
    path.c is_ntfs_dotgit: trailing dots and spaces, and the 8.3 short name "git~1"; utf8.c is_hfs_dotgit:
    ignorable code points), so a commit holding one would poison every clone on those filesystems.
    """
    name = _HFS_IGNORED.sub("", part).lower().rstrip(" .")
    return name in (".git", "git~1")


def has_git_part(path: str) -> bool:
    return any(is_git_dir_name(p) for p in re.split(r"[/\\]", path))


def clone_root(clone_dir: str | Path) -> Path:
    return Path(os.path.realpath(clone_dir))


def resolve(
    clone_dir: str | Path, written: str, *, base: str | Path | None = None, must_exist: bool = True
) -> ClonePath:
    """`written` (relative to `base`, default the clone directory) as a file inside the clone, or PathRefused.

    must_exist=False is for files the pipe writes (PREVIEW_FILE): the file need not exist yet, but if it
    does it must be a regular file, and the directory it goes in must resolve inside the clone.
    """
    root = clone_root(clone_dir)
    if not written or not written.strip():
        raise PathRefused("the path is empty")
    if _CONTROL.search(written):
        raise PathRefused("the path holds a control character")
    if written.startswith(("/", "\\")) or os.path.isabs(written):
        raise PathRefused("an absolute path is refused")
    if has_git_part(written):
        raise PathRefused(f"the path is inside .git, {_GIT_WHY}")
    start = Path(os.path.realpath(base)) if base is not None else root
    real = Path(os.path.realpath(start / written))
    if real != root and not real.is_relative_to(root):
        raise PathRefused(f"it leads to {real}, outside the clone directory {root}")
    relative = real.relative_to(root).as_posix()
    if has_git_part(relative):
        raise PathRefused(f"it leads to {relative}, inside .git, {_GIT_WHY}")
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        if must_exist:
            raise PathRefused(f"it does not exist ({real})") from None
        return ClonePath(real, relative)  # to be written: missing directories are created inside the clone
    except OSError as err:
        raise PathRefused(f"it cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise PathRefused(f"it is {what} ({real})")
    return ClonePath(real, relative)


def resolve_dir(clone_dir: str | Path, written: str) -> ClonePath:
    """`written` as a folder inside the clone for the pipe to write into (CHECKPOINT_PATH): it need not exist, but
    what exists of it must be a directory, after symlinks inside the clone and never in .git; not the clone itself.
    Checked as resolve() checks a file to be written in it (a name in the folder that is never used)."""
    if not written or not written.strip():
        raise PathRefused("the path is empty")
    try:
        probe = resolve(clone_dir, written.rstrip("/") + "/" + _PROBE, must_exist=False)
    except PathRefused as why:
        raise PathRefused(str(why).replace("/" + _PROBE, "")) from None
    folder = probe.real.parent
    root = clone_root(clone_dir)
    if folder == root:
        raise PathRefused("it is the clone directory itself; name a folder inside it")
    if folder.exists() and not folder.is_dir():
        raise PathRefused(f"it is not a directory ({folder})")
    return ClonePath(folder, folder.relative_to(root).as_posix())


def read_bytes(path: ClonePath | Path, *, max_bytes: int | None = None) -> bytes:
    """The content of a file resolved here, opened without following a symlink swapped in since."""
    real = path.real if isinstance(path, ClonePath) else path
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise PathRefused(f"it is not a regular file ({real})")
        content = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(content) > max_bytes:
        raise PathRefused(f"it is larger than the {max_bytes:,} bytes allowed")
    return content


def write_bytes(real: Path, content: bytes) -> None:
    """Write a file resolved with must_exist=False; a symlink put in its place since is not followed."""
    real.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def preview_twins(preview_file: Path) -> tuple[Path, Path]:
    """PREVIEW_FILE names the markdown (an .html name gives its .md twin); the HTML sits next to it."""
    md = preview_file.with_suffix(".md") if preview_file.suffix.lower() in (".html", ".htm") else preview_file
    return md, md.with_suffix(".html")

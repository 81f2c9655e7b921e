"""What the demo prints: lines as they come, ANSI colours only on a terminal, a section heading."""

from __future__ import annotations

import re
import sys

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def say(line: str = "") -> None:
    print(line, flush=True)


def plain(text: str) -> str:
    return text if sys.stdout.isatty() else _ANSI.sub("", text)


def section(title: str) -> None:
    say()
    say(f"--- {title} " + "-" * max(0, 96 - len(title)))

"""MAX_RUNNERS (issue 29): how many runners of the pipe's, with the requested labels, one repository may have at
once. Its own module so the runner settings stay as they are; read by runner mode (pipe/runner/cap.py)."""

from __future__ import annotations

from collections.abc import Mapping

from pipe.config.parsers import parse_int
from pipe.config.variables import Variable

MAX_RUNNERS_LIMIT = 1000

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "MAX_RUNNERS",
        "At most this many runners of this repository with all the LABELS at once: a launch past it (after REUSE "
        "or REUSE_IDLE found none to reuse) fails with one line. Unset: no cap.",
        example="'<integer>'",
    ),
)


def max_runners(env: Mapping[str, str]) -> int | None:
    """MAX_RUNNERS as a number from 1 to MAX_RUNNERS_LIMIT, or None when unset (no cap)."""
    value = env.get("MAX_RUNNERS", "").strip()
    if not value:
        return None
    return parse_int("MAX_RUNNERS", value, default=0, minimum=1, maximum=MAX_RUNNERS_LIMIT)

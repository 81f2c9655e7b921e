"""TARGET: where a report goes, as the user writes it (auto, pr, commit, pr/<id>, commit/<sha>); and the name of
the branch PR mode opens its PR from, which report mode looks for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ALLOWED = "one of auto, pr, commit, pr/<id>, commit/<sha>"
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


@dataclass(frozen=True)
class TargetSpec:
    kind: Literal["auto", "pr", "commit"]
    pr_id: int | None = None
    commit: str | None = None
    text: str = "auto"  # as the user wrote it, for messages


def parse_target(value: str) -> TargetSpec:
    """Raises ValueError (what is allowed) for anything else."""
    text = value.strip() or "auto"
    low = text.lower()
    if low in ("auto", "pr", "commit"):
        return TargetSpec(low, text=text)  # type: ignore[arg-type]  # one of the literals, checked above
    kind, _, arg = low.partition("/")
    if kind == "pr" and arg.isdigit() and int(arg) > 0:
        return TargetSpec("pr", pr_id=int(arg), text=text)
    if kind == "commit" and _SHA.match(arg):
        return TargetSpec("commit", commit=arg, text=text)
    raise ValueError(ALLOWED)


def pr_mode_branch(target: str, commit: str) -> str:
    """The source branch PR mode names when BRANCH is empty, after CML: `<target>-cml-pr-<commit[:8]>`. PR mode
    opens it (pipe/pr/plan.py) and refuses to start from one; report mode looks for its PR (pipe/report/targets.py)."""
    return f"{target}-cml-pr-{commit[:8]}"


_PR_MODE_BRANCH = re.compile(r".-cml-pr-[0-9a-f]{8}$")


def is_pr_mode_branch(name: str) -> bool:
    """A branch pr_mode_branch() named."""
    return bool(_PR_MODE_BRANCH.search(name))

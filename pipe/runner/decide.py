"""Reuse or provision, decided on plain data (no I/O), from as few pages of the runner listing as it takes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from pipe.bitbucket.models import Runner
from pipe.runner.leftovers import Listing


@dataclass(frozen=True)
class Decision:
    action: str  # "reuse" | "provision"
    runner: Runner | None = None
    reason: str = ""


class NameInUse(Exception):
    """NAME matches an existing runner and REUSE is off (CML's 'Runner name X is already in use')."""


def decide(runners: Sequence[Runner], labels: Iterable[str], *, name: str, reuse: bool, reuse_idle: bool) -> Decision:
    wanted = set(labels)
    named = [r for r in runners if r.name == name]
    if named:
        if reuse or reuse_idle:
            return Decision("reuse", named[0], f"a runner named {name} exists")
        raise NameInUse(f"NAME: {name!r} is already used by runner {named[0].uuid}; choose another NAME or set REUSE")
    matching = [r for r in runners if r.status == "ONLINE" and wanted <= set(r.labels)]
    if reuse and matching:
        return Decision("reuse", matching[0], "an online runner has all the labels")
    idle = [r for r in matching if not r.busy]
    if reuse_idle and idle:
        return Decision("reuse", idle[0], "an online runner with all the labels is idle")
    if reuse_idle and matching:
        return Decision("provision", reason="every online runner with the labels is busy")
    return Decision("provision", reason="no online runner with the labels" if (reuse or reuse_idle) else "")


def decide_from_pages(
    pages: Iterator[tuple[list[Runner], bool]],
    labels: Iterable[str],
    *,
    scope: str,
    name: str,
    check_name: bool,
    reuse: bool,
    reuse_idle: bool,
) -> tuple[Decision, Listing]:
    """decide() reading pages only until the answer is known, and the listing those pages make.

    With REUSE or REUSE_IDLE it stops at the first page holding a runner to reuse; a NAME chosen by the
    user (``check_name``) must be checked against every page. Otherwise one page is read: the answer
    is "provision" whatever the rest holds, and that page serves the sweep as evidence.
    """
    wanted = tuple(labels)
    seen: list[Runner] = []
    read_all = reuse or reuse_idle or check_name
    more = True
    decision = Decision("provision")
    for page, more in pages:
        seen.extend(page)
        decision = decide(seen, wanted, name=name, reuse=reuse, reuse_idle=reuse_idle)
        if decision.action == "reuse" or not read_all or not more:
            break
    return decision, Listing(scope, tuple(seen), complete=not more)

"""MAX_RUNNERS (issue 29): a launch that would exceed the cap fails with one line, before anything is created.

Counted on plain data, from the runner listing the launch has already read (no Bitbucket call of its own): the
pipe's runners (marker label) that carry every requested label. A repository runner listing holds only this
repository's runners; a workspace listing holds every repository's, so there only the runners whose instances
carry this repository's tag count (the instances the caller read, one cloud call).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pipe.bitbucket.models import Runner
from pipe.providers.tags import runner_tag
from pipe.runner.errors import RunnerFailure
from pipe.runner.plan import is_our_runner

SHOWN = 5  # runner names in the failure line


class RunnerCapReached(RunnerFailure):
    """MAX_RUNNERS runners with the labels exist already. str() is the one line."""


def counted(
    runners: Iterable[Runner], labels: Collection[str], repository_runners: Collection[str] | None
) -> list[Runner]:
    """Ours, not disabled, with every label; with repository_runners (the runner tags of this repository's
    instances), only those."""
    wanted = set(labels)
    return [
        r
        for r in runners
        if is_our_runner(r.labels)
        and r.status != "DISABLED"  # being retired by a sweep
        and wanted <= set(r.labels)
        and (repository_runners is None or runner_tag(r.uuid) in repository_runners)
    ]


def check_cap(limit: int | None, runners: list[Runner], labels: Collection[str]) -> None:
    if limit is None or len(runners) < limit:
        return
    names = ", ".join(r.name for r in runners[:SHOWN]) + (", ..." if len(runners) > SHOWN else "")
    raise RunnerCapReached(
        f"MAX_RUNNERS: {limit} reached: this repository has {len(runners)} runner(s) of the pipe with labels "
        f"{', '.join(sorted(labels))} ({names}); wait for one to end, set REUSE or REUSE_IDLE, or raise MAX_RUNNERS"
    )

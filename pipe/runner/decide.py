"""Decisions on plain data, no I/O: reuse or provision, and what a sweep removes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipe.bitbucket.models import Runner
from pipe.providers.base import Instance
from pipe.providers.tags import expires_at, runner_tag
from pipe.runner.plan import is_our_runner

# A runner of ours that is not online and has no instance is left this long
# before the sweep deletes it: a concurrent launch registers its runner a few
# seconds before its instance exists.
STALE_RUNNER_S = 15 * 60
_DOWN = ("OFFLINE", "UNREGISTERED", "UNHEALTHY", "DISABLED")


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


@dataclass
class SweepPlan:
    terminate: list[tuple[Instance, str]] = field(default_factory=list)
    delete_runners: list[tuple[Runner, str]] = field(default_factory=list)


def plan_sweep(runners: Sequence[Runner], instances: Sequence[Instance], now: int) -> SweepPlan:
    """Expired, orphaned and powered-off instances; our stale runners. Never anything untagged."""
    plan = SweepPlan()
    by_tag = {runner_tag(r.uuid): r for r in runners}
    live_runner_tags: set[str] = set()
    for instance in instances:
        expiry = expires_at(instance.tags)
        runner = by_tag.get(instance.runner_uuid)
        if expiry is not None and expiry <= now:
            plan.terminate.append((instance, "past its expires-at"))
        elif runner is None:
            plan.terminate.append((instance, "its runner no longer exists"))
        elif instance.state == "stopped":
            plan.terminate.append((instance, "powered off but still billed for its disk"))
        else:
            live_runner_tags.add(instance.runner_uuid)
    for runner in runners:
        if not is_our_runner(runner.labels) or runner.busy or runner.status == "ONLINE":
            continue
        if runner_tag(runner.uuid) in live_runner_tags:
            continue
        if runner.status in _DOWN and _age_s(runner, now) >= STALE_RUNNER_S:
            plan.delete_runners.append((runner, f"{runner.status} with no live instance"))
    return plan


def _age_s(runner: Runner, now: int) -> float:
    stamp = runner.updated_on or runner.created_on
    try:
        return now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")  # undated: old enough

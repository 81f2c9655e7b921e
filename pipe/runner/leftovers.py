"""What a sweep may remove, decided on plain data (no I/O).

An instance of ours is removed only for a reason it carries itself (past its expires-at), or once its
runner is confirmed gone: looked up by its UUID in the scope its tag names (404). Absence from a
listing proves nothing (it may be partial, or of another scope); presence in a listing of the right
scope does prove the runner exists, which spares a lookup. Instances tagged before the repository
tag held the repository's UUID (legacy) are set aside: only a runner found in this repository's own
scope proves one of them is this repository's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipe.bitbucket.models import Runner
from pipe.config.runner import MAX_WAIT_TIMEOUT_S
from pipe.providers.base import ROLE_BAKE, TAG_ROLE, Instance
from pipe.providers.tags import created_at, expires_at, is_legacy, runner_scope, runner_tag
from pipe.runner.plan import is_our_runner

# A runner of ours that is down and has no instance is left this long before it is deleted: its VM may
# be restarting the runner.
STALE_RUNNER_S = 15 * 60
# A runner that never connected may belong to a launch still waiting for its VM (up to WAIT_TIMEOUT,
# at most MAX_WAIT_TIMEOUT_S) whose instance this sweep cannot see (another region): wait that long.
NEVER_CONNECTED_S = MAX_WAIT_TIMEOUT_S + 10 * 60
DOWN = ("OFFLINE", "UNREGISTERED", "UNHEALTHY", "DISABLED")


@dataclass(frozen=True)
class Listing:
    """One scope's runners as a listing showed them; ``complete`` when every page was read."""

    scope: str
    runners: tuple[Runner, ...]
    complete: bool


@dataclass
class Triage:
    terminate: list[tuple[Instance, str]] = field(default_factory=list)  # certain without a lookup
    look_up: list[tuple[Instance, str]] = field(default_factory=list)  # (instance, scope to look in)
    legacy: list[Instance] = field(default_factory=list)  # not provably this repository's yet


def triage(instances: Iterable[Instance], listing: Listing | None, now: int) -> Triage:
    """Sort this repository's instances (UUID-tagged) by what it takes to decide on them."""
    out = Triage()
    known = {runner_tag(r.uuid): r for r in listing.runners} if listing else {}
    for instance in instances:
        if instance.tags.get(TAG_ROLE) == ROLE_BAKE:  # COMMAND: bake's instance has no runner: only its expiry
            expiry = expires_at(instance.tags)
            if expiry is not None and expiry <= now:
                out.terminate.append((instance, "a bake's instance past its expires-at"))
            continue
        scope = runner_scope(instance.tags)
        if is_legacy(instance.tags) or scope is None:
            out.legacy.append(instance)
            continue
        expiry = expires_at(instance.tags)
        if expiry is not None and expiry <= now:
            out.terminate.append((instance, "past its expires-at"))
        elif listing is not None and listing.scope == scope and instance.runner_uuid in known:
            if instance.state == "stopped":
                out.terminate.append((instance, "powered off but still billed for its disk"))
        else:
            out.look_up.append((instance, scope))
    # Powered-off ones first (likeliest to be leftovers), then the oldest.
    out.look_up.sort(key=lambda pair: (pair[0].state != "stopped", created_at(pair[0].tags) or 0, pair[0].id))
    return out


def verdict_after_lookup(instance: Instance, runner: Runner | None, scope: str, now: int) -> str:
    """Why the instance goes, now that its runner was looked up; "" when it stays."""
    if runner is None:
        return f"its runner is gone (404 in the {scope} scope)"
    expiry = expires_at(instance.tags)
    if expiry is not None and expiry <= now:
        return "past its expires-at"
    if instance.state == "stopped":
        return "powered off but still billed for its disk"
    return ""


def protected_runners(instances: Iterable[Instance], leaving: Iterable[Instance]) -> set[str]:
    """Runner tags of every instance of ours that stays: such a runner is never stale."""
    going = {i.id for i in leaving}
    return {i.runner_uuid for i in instances if i.id not in going and i.runner_uuid}


def stale_runners(runners: Sequence[Runner], protected: set[str], now: int) -> list[tuple[Runner, str]]:
    """Our runners that are down, idle, without a live instance, and have been so long enough."""
    found: list[tuple[Runner, str]] = []
    for runner in runners:
        if not is_our_runner(runner.labels) or runner.busy or runner.status not in DOWN:
            continue
        if runner_tag(runner.uuid) in protected:
            continue
        never_connected = runner.status == "UNREGISTERED"
        age = _age_s(runner.created_on if never_connected else (runner.updated_on or runner.created_on), now)
        if age >= (NEVER_CONNECTED_S if never_connected else STALE_RUNNER_S):
            found.append((runner, f"{runner.status} with no live instance"))
    return found


def in_use(runner: Runner) -> str:
    """Why a runner must not be deleted now (fresh from Bitbucket); "" when it may be."""
    if runner.busy:
        return "it has a step"
    if runner.status == "ONLINE":
        return "it is ONLINE again"
    if runner.status not in DOWN:
        return f"its status is {runner.status or 'unknown'}"
    return ""


def _age_s(stamp: str, now: int) -> float:
    try:
        return now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")  # undated: old enough

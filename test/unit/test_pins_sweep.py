"""What a sweep may remove (pipe/runner/leftovers.py), at the edges a mutation run (issue #20) probes.

Plain data, no I/O: the instants a rule starts to apply (an instance's expires-at, a runner's staleness),
what makes a runner "in use", and the order lookups are spent in (the sweep's budget is bounded, so the
likeliest leftovers come first). Each test names the mutants it kills.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipe.bitbucket.models import Runner
from pipe.providers.base import Instance
from pipe.runner.leftovers import (
    NEVER_CONNECTED_S,
    STALE_RUNNER_S,
    Listing,
    in_use,
    protected_runners,
    stale_runners,
    triage,
    verdict_after_lookup,
)
from pipe.runner.plan import MARKER_LABEL

NOW = 2_000_000_000
OURS = ("self.hosted", "linux", "cml.runner", MARKER_LABEL)
REPO_UUID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def stamp(seconds_ago: int) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, tz=UTC).isoformat()


def runner(uuid: str, status: str = "OFFLINE", *, busy: bool = False, created: str = "", updated: str = "") -> Runner:
    return Runner(uuid=uuid, name=f"cml-{uuid}", labels=OURS, status=status, busy=busy, created_on=created,
                  updated_on=updated)  # fmt: skip


def instance(
    runner_uuid: str, *, expires: int | None = NOW + 3600, state: str = "running", created: int = 0
) -> Instance:
    tags = {
        "cml-managed-by": "cml-runner-pipe",
        "cml-runner-uuid": runner_uuid,
        "cml-repository": REPO_UUID,
        "cml-runner-scope": "repository",
        "cml-created-at": str(created),
    }
    if expires is not None:
        tags["cml-expires-at"] = str(expires)
    return Instance(cloud="aws", id=f"i-{runner_uuid}", name="n", region="r", zone="z", instance_type="t",
                    spot=False, state=state, tags=tags)  # fmt: skip


def test_an_instance_goes_at_its_expires_at_second_not_a_second_later() -> None:
    """Kills `expiry <= now` turned into `<` (triage and verdict_after_lookup), and `is not None` into `is`."""
    listed = Listing("repository", (runner("{due}", "ONLINE"), runner("{later}", "ONLINE")), complete=True)
    sorted_out = triage([instance("due", expires=NOW), instance("later", expires=NOW + 1)], listed, NOW)
    assert [(i.id, why) for i, why in sorted_out.terminate] == [("i-due", "past its expires-at")]
    found = runner("{x}", "ONLINE")
    assert verdict_after_lookup(instance("x", expires=NOW), found, "repository", NOW) == "past its expires-at"
    assert verdict_after_lookup(instance("x", expires=NOW + 1), found, "repository", NOW) == ""
    assert verdict_after_lookup(instance("x", expires=None), found, "repository", NOW) == ""


def test_a_looked_up_instance_goes_when_its_runner_is_gone_or_it_is_powered_off() -> None:
    """Kills `runner is None` turned into `is not None`, and `state == "stopped"` into `!=`."""
    gone = verdict_after_lookup(instance("x"), None, "workspace", NOW)
    assert gone == "its runner is gone (404 in the workspace scope)"
    found = runner("{x}", "ONLINE")
    assert verdict_after_lookup(instance("x", state="stopped"), found, "repository", NOW) == (
        "powered off but still billed for its disk"
    )
    assert verdict_after_lookup(instance("x", state="running"), found, "repository", NOW) == ""


def test_lookups_are_spent_on_powered_off_instances_first_then_the_oldest() -> None:
    """The sweep stops when its call budget is spent: the likeliest leftovers must come first. Kills
    `state != "stopped"` turned into `==` in the sort key, the created-at order reversed, and the created-at
    left out of the key (`created_at(...) or 0` turned into `and 0`)."""
    instances = [  # ids in the opposite order to their ages, so the order cannot come from the ids
        instance("a-young", created=NOW - 10),
        instance("b-old", created=NOW - 1000),
        instance("c-off-young", state="stopped", created=NOW - 5),
        instance("d-off-old", state="stopped", created=NOW - 500),
    ]
    order = [i.id for i, _ in triage(instances, None, NOW).look_up]
    assert order == ["i-d-off-old", "i-c-off-young", "i-b-old", "i-a-young"]


def test_a_down_runner_is_stale_exactly_when_its_wait_is_over() -> None:
    """Kills `age >= ...` turned into `>`, the two waits swapped (`never_connected` negated), and the
    UNREGISTERED runner's age taken from updated_on."""
    at_edge = [
        runner("{offline-due}", "OFFLINE", updated=stamp(STALE_RUNNER_S)),
        runner("{offline-early}", "OFFLINE", updated=stamp(STALE_RUNNER_S - 1)),
        runner("{never-due}", "UNREGISTERED", created=stamp(NEVER_CONNECTED_S), updated=stamp(0)),
        runner("{never-early}", "UNREGISTERED", created=stamp(NEVER_CONNECTED_S - 1)),
        runner("{undated}", "OFFLINE"),  # no date at all: old enough
    ]
    stale = stale_runners(at_edge, set(), NOW)
    assert [(r.uuid, why) for r, why in stale] == [
        ("{offline-due}", "OFFLINE with no live instance"),
        ("{never-due}", "UNREGISTERED with no live instance"),
        ("{undated}", "OFFLINE with no live instance"),
    ]


def test_an_instance_that_stays_protects_its_runner_and_one_that_goes_does_not() -> None:
    """Kills `i.id not in going` turned into `in` (a runner whose instance is being terminated would be kept,
    or a live one's runner deleted)."""
    staying, leaving = instance("stays"), instance("goes")
    assert protected_runners([staying, leaving], [leaving]) == {"stays"}
    old = stamp(STALE_RUNNER_S * 2)
    stale = stale_runners([runner("{stays}", updated=old), runner("{goes}", updated=old)], {"stays"}, NOW)
    assert [r.uuid for r, _ in stale] == ["{goes}"]


def test_a_runner_is_in_use_when_busy_online_or_in_a_status_the_sweep_does_not_know() -> None:
    """Checked again just before a delete. Kills each condition of in_use negated."""
    assert in_use(runner("{a}", "OFFLINE", busy=True)) == "it has a step"
    assert in_use(runner("{a}", "ONLINE")) == "it is ONLINE again"
    assert in_use(runner("{a}", "PAUSED")) == "its status is PAUSED"
    assert in_use(runner("{a}", "")) == "its status is unknown"
    for down in ("OFFLINE", "UNREGISTERED", "UNHEALTHY", "DISABLED"):
        assert in_use(runner("{a}", down)) == ""


def test_the_waits_are_the_ones_the_readme_promises() -> None:
    """README, COMMAND: sweep: a runner of ours is deleted once it has been down for 15 minutes with no
    instance, 2 hours 10 minutes for one that never connected (a launch may wait up to 2 hours for it).
    Kills STALE_RUNNER_S and NEVER_CONNECTED_S changed (`15 * 60` to `15 * 59`, `+ 10 * 60` to `- 10 * 60`)."""
    runners = [
        runner("{down-14m59s}", "OFFLINE", updated=stamp(15 * 60 - 1)),
        runner("{down-15m}", "OFFLINE", updated=stamp(15 * 60)),
        runner("{never-2h}", "UNREGISTERED", created=stamp(2 * 3600)),  # its launch may still be waiting
        runner("{never-2h9m59s}", "UNREGISTERED", created=stamp(2 * 3600 + 10 * 60 - 1)),
        runner("{never-2h10m}", "UNREGISTERED", created=stamp(2 * 3600 + 10 * 60)),
    ]
    assert [r.uuid for r, _ in stale_runners(runners, set(), NOW)] == ["{down-15m}", "{never-2h10m}"]


def test_runners_that_are_not_candidates_do_not_hide_the_stale_ones_after_them() -> None:
    """Kills either `continue` of stale_runners turned into `break` (the scan would stop at the first
    runner that is not ours, busy, online or protected)."""
    old = stamp(STALE_RUNNER_S * 2)
    foreign = Runner(uuid="{foreign}", name="theirs", labels=("self.hosted", "linux"), status="OFFLINE", busy=False,
                     created_on="", updated_on=old)  # fmt: skip
    listed = [foreign, runner("{online}", "ONLINE"), runner("{protected}", updated=old), runner("{stale}", updated=old)]
    assert [r.uuid for r, _ in stale_runners(listed, {"protected"}, NOW)] == ["{stale}"]

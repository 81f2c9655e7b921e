"""The sweep never deletes a runner in use, never leaves one DISABLED, and stops cleanly within its budget.

Through the real entry point (COMMAND: sweep, and the bounded sweep of a launch) against the local
Bitbucket and moto: a runner that comes back ONLINE between the listing and the delete, a 429 storm
after a runner was disabled, Bitbucket's X-RateLimit-NearLimit, and a failed page of the listing.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fakes.bitbucket.state import ALL_SCOPES
from fixtures_pipe import output_lines, run_pipe
from sweep_world import LONG_AGO, OUR_LABELS, ROUTE_LIST, live_instance_ids, run_instances, tags_for

from pipe.runner.plan import LEGACY_MARKER_LABEL, MARKER_LABEL

PER_RUNNER = r"/pipelines-config/runners/"
LISTING = r"/pipelines-config/runners$"


@pytest.fixture()
def env(aws_runner_env: dict[str, str]) -> dict[str, str]:
    return aws_runner_env


def sweep(env: dict[str, str], **extra: str) -> tuple[int, str]:
    proc = run_pipe({**env, "COMMAND": "sweep", **extra})
    return proc.returncode, "\n".join(output_lines(proc))


def stale(bitbucket: FakeBitbucket, count: int) -> list[str]:
    """Runners of ours, OFFLINE for years, with no instance: what the sweep deletes."""
    return [r.uuid for r in bitbucket.seed_runners(count, labels=OUR_LABELS, status="OFFLINE", updated_on=LONG_AGO)]


def statuses(bitbucket: FakeBitbucket) -> dict[str, str]:
    return {uuid: r.status for uuid, r in bitbucket.repo().runners.items()}


# --- the race


def test_a_runner_back_online_between_the_listing_and_the_delete_is_kept(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    [back, gone] = stale(bitbucket, 2)

    def comes_back() -> None:
        runner = bitbucket.runner(back)
        runner.connected = runner.ever_connected = True

    bitbucket.add_trigger(comes_back, method="GET", path=LISTING)  # right after the listing was answered
    code, out = sweep(env)
    assert code == 0, out
    assert statuses(bitbucket) == {back: "ONLINE"}, out  # never disabled, never deleted
    assert "1 runner(s) deleted" in out and gone not in bitbucket.repo().runners


def test_a_runner_that_picks_up_a_step_as_it_is_disabled_is_enabled_again_and_kept(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    [runner] = stale(bitbucket, 1)
    bitbucket.add_trigger(lambda: bitbucket.set_runner_busy(runner), method="GET", path=PER_RUNNER)
    code, out = sweep(env)
    assert code == 0, out
    kept = bitbucket.runner(runner)
    assert kept.enabled and kept.step is not None, out
    assert "0 runner(s) deleted" in out


def test_the_launch_sweep_keeps_a_runner_that_came_back_online(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    bitbucket.connect_on_register = True
    [back] = stale(bitbucket, 1)

    def comes_back() -> None:
        bitbucket.runner(back).connected = True

    bitbucket.add_trigger(comes_back, method="GET", path=LISTING)
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert bitbucket.runner(back).status == "ONLINE", out


def test_the_launch_sweep_deletes_at_most_one_stale_runner(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    bitbucket.connect_on_register = True
    old = stale(bitbucket, 5)
    proc = run_pipe(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len([uuid for uuid in old if uuid in bitbucket.repo().runners]) == 4  # the rest: COMMAND: sweep
    code, out = sweep(env)
    assert code == 0, out
    assert not any(uuid in bitbucket.repo().runners for uuid in old), out


# --- the budget


def test_a_429_storm_after_the_disable_leaves_no_runner_disabled_and_stops_cleanly(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    runners = stale(bitbucket, 4)
    # The first runner's re-read and disable go through; then every per-runner call is refused for a while:
    # its delete gives up (6 attempts), and its re-enable goes through after 2 more.
    bitbucket.add_fault("status", status=429, retry_after="0", path=PER_RUNNER, after=2, times=8)
    code, out = sweep(env)
    assert code == 0, out
    assert "Sweep stopped early (Bitbucket answered 429" in out, out
    assert "4 stale runner(s) not deleted yet" in out
    assert set(statuses(bitbucket)) == set(runners), out  # nothing deleted after the storm began
    assert all(status == "OFFLINE" for status in statuses(bitbucket).values()), out  # none left DISABLED


def test_near_the_rate_limit_the_sweep_stops_before_bitbucket_refuses(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    stale(bitbucket, 3)
    bitbucket.hourly_limit = 100
    bitbucket.rate_used = 79  # the next call is the 80th: under 20% left, X-RateLimit-NearLimit: true
    code, out = sweep(env)
    assert code == 0, out
    assert "X-RateLimit-NearLimit" in out and "3 stale runner(s) not deleted yet" in out, out
    assert bitbucket.rate_used <= bitbucket.hourly_limit  # never a 429
    assert len(bitbucket.repo().runners) == 3


def test_the_sweep_deletes_stale_runners_with_either_marker_and_nobody_elses(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy
) -> None:
    """Runners registered before the label rule carry the old marker `cml-runner-pipe`: still ours (is_our_runner)."""
    stale(bitbucket, 1)  # with today's marker
    old_labels = [label for label in OUR_LABELS if label != MARKER_LABEL] + [LEGACY_MARKER_LABEL]
    [legacy] = bitbucket.seed_runners(1, labels=old_labels, status="OFFLINE", updated_on=LONG_AGO, prefix="cml-old")
    [foreign] = bitbucket.seed_runners(1, labels=["self.hosted", "linux", "team.build"], status="OFFLINE",
                                       updated_on=LONG_AGO, prefix="team")  # fmt: skip
    code, out = sweep(env)
    assert code == 0, out
    assert "2 runner(s) deleted" in out, out
    assert statuses(bitbucket) == {foreign.uuid: "OFFLINE"}, out  # ours, both markers, deleted; the other kept
    assert legacy.uuid not in bitbucket.repo().runners


def test_the_sweep_pages_at_100_and_terminates_in_batches(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy, ec2: Any
) -> None:
    bitbucket.seed_runners(450, labels=["self.hosted", "linux", "team.build"], prefix="team")
    repository_uuid = bitbucket.repo().uuid
    gone = [f"{{0badc0de-0000-4000-8000-{n:012d}}}" for n in range(40)]
    orphans = run_instances(ec2, len(gone), [tags_for(uuid, repository_uuid) for uuid in gone])
    before = {action for _, action in aws_faults.requests}
    count_before = len([a for _, a in aws_faults.requests if a == "TerminateInstances"])
    code, out = sweep(env)
    assert code == 0, out
    assert "40 instance(s) terminated" in out, out
    assert bitbucket.request_count(ROUTE_LIST) == 5  # 450 runners, 100 a page
    terminations = len([a for _, a in aws_faults.requests if a == "TerminateInstances"]) - count_before
    assert terminations == 1, before  # one batch, not one call per instance
    assert not set(orphans) & live_instance_ids(ec2)


def test_a_failed_page_of_the_listing_never_makes_an_orphan(
    env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy, ec2: Any
) -> None:
    bitbucket.seed_runners(150, labels=["self.hosted", "linux", "team.build"], prefix="team")
    [alive] = bitbucket.seed_runners(1, labels=OUR_LABELS, prefix="cml-live")  # on the second page
    [instance] = run_instances(ec2, 1, [tags_for(alive.uuid, bitbucket.repo().uuid)])
    bitbucket.add_fault("status", status=500, retry_after="0", method="GET", path=LISTING, after=1, times=None)
    code, out = sweep(env)
    assert code == 0, out
    assert "listing the runners failed" in out, out
    assert instance in live_instance_ids(ec2), out  # looked up by UUID: alive


# --- a token that lacks a scope: the sweep fails and names it (it used to "stop early" and exit 0)


def token_without(bitbucket: FakeBitbucket, scope: str) -> str:
    token = f"sweep-token-without-{scope.replace(':', '-')}"
    bitbucket.add_token(token, ALL_SCOPES - {scope})
    return token


def test_a_token_without_read_runner_fails_the_sweep_and_names_the_scope(
    env: dict[str, str], bitbucket: FakeBitbucket, ec2: Any
) -> None:
    [gone] = stale(bitbucket, 1)
    code, out = sweep(env, BITBUCKET_ACCESS_TOKEN=token_without(bitbucket, "read:runner:bitbucket"))
    assert code == 1, out
    assert "read:runner" in out and "stopped early" not in out, out
    assert gone in bitbucket.repo().runners
    assert "Traceback" not in out


def test_a_token_without_write_runner_fails_and_never_claims_it_disabled_a_runner(
    env: dict[str, str], bitbucket: FakeBitbucket, ec2: Any
) -> None:
    [kept] = stale(bitbucket, 1)
    code, out = sweep(env, BITBUCKET_ACCESS_TOKEN=token_without(bitbucket, "write:runner:bitbucket"))
    assert code == 1, out
    assert "write:runner" in out, out
    assert "could not be enabled again" not in out and "Re-enabling" not in out, out
    assert statuses(bitbucket) == {kept: "OFFLINE"}, out  # never disabled
    assert "Traceback" not in out

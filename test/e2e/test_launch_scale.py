"""A launch costs the same with 2,000 runners and 300 instances as in an empty repository (issue 19).

The real entry point against the local Bitbucket and moto (behind the fault proxy, which counts EC2
requests), in worlds seeded straight into their state. The runner goes ONLINE as soon as it is
registered (an instant boot), so every launch polls its status exactly once and the counts compare.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fakes.moto import MotoServer
from fixtures_pipe import output_lines, run_pipe
from sweep_world import OUR_LABELS, ROUTE_LIST, live_instance_ids, seed

# Goals (issue 19): at most 3 more Bitbucket calls than in an empty repository without REUSE/REUSE_IDLE,
# and at most 1 + ceil(N/100) + 4 with them; cloud calls within 5 of the empty repository's.
EXTRA_BITBUCKET = 3
EXTRA_CLOUD = 5


@pytest.fixture()
def env(aws_runner_env: dict[str, str]) -> dict[str, str]:
    return aws_runner_env


@pytest.fixture()
def instant(bitbucket: FakeBitbucket) -> Iterator[FakeBitbucket]:
    bitbucket.connect_on_register = True
    yield bitbucket


def launch(env: dict[str, str], bitbucket: FakeBitbucket, proxy: FaultProxy, **extra: str) -> tuple[int, int, str]:
    """(Bitbucket calls, EC2 calls, output) of one run of the pipe."""
    bb_before, ec2_before = bitbucket.request_count(), len(proxy.requests)
    proc = run_pipe({**env, **extra})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    return bitbucket.request_count() - bb_before, len(proxy.requests) - ec2_before, out


def fresh(bitbucket: FakeBitbucket, moto: MotoServer) -> None:
    moto.reset()
    bitbucket.reset()
    bitbucket.connect_on_register = True


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_a_launch_makes_the_same_calls_whatever_the_runners_and_instances_of_others(
    env: dict[str, str], instant: FakeBitbucket, moto: MotoServer, aws_faults: FaultProxy, ec2: Any
) -> None:
    bitbucket = instant
    empty_bb, empty_ec2, _ = launch(env, bitbucket, aws_faults)
    for runners, instances in ((500, 0), (0, 300), (2000, 300)):
        fresh(bitbucket, moto)
        world = seed(bitbucket, ec2, runners, instances)
        bb_calls, ec2_calls, out = launch(env, bitbucket, aws_faults)
        size = f"N={runners}, M={instances}: {bb_calls} Bitbucket / {ec2_calls} EC2 calls"
        size += f" (empty: {empty_bb} / {empty_ec2})"
        assert bb_calls <= empty_bb + EXTRA_BITBUCKET, size
        assert ec2_calls <= empty_ec2 + EXTRA_CLOUD, size
        assert bitbucket.request_count(ROUTE_LIST) == 1, size  # one page, whatever N
        # Nothing of the others' was touched: every runner and every instance is still there.
        registered = set(bitbucket.repo().runners)
        assert {r.uuid for r in world.others + world.live} <= registered, out
        assert set(world.instances) <= live_instance_ids(ec2), out
        assert all(bitbucket.runner(r.uuid).status == "ONLINE" for r in world.live)


@pytest.mark.parametrize("variable", ["REUSE", "REUSE_IDLE"])
def test_reuse_reads_pages_of_100_and_stays_within_its_goal_when_nothing_suits(
    variable: str, env: dict[str, str], instant: FakeBitbucket, aws_faults: FaultProxy, ec2: Any
) -> None:
    runners = 2000
    seed(instant, ec2, runners, 0)
    bb_calls, _, out = launch(env, instant, aws_faults, **{variable: "true", "LABELS": "cml.gpu"})
    assert "Provisioning a new runner" in out
    assert instant.request_count(ROUTE_LIST) == math.ceil(runners / 100)  # the largest page, every page
    assert bb_calls <= 1 + math.ceil(runners / 100) + 4, out


def test_reuse_idle_stops_paging_at_the_first_idle_match(
    env: dict[str, str], instant: FakeBitbucket, aws_faults: FaultProxy, ec2: Any
) -> None:
    instant.seed_runners(150, labels=["self.hosted", "linux", "team.build"], prefix="team")
    [match] = instant.seed_runners(1, labels=OUR_LABELS, prefix="cml-idle")  # on the second page
    instant.seed_runners(1850, labels=["self.hosted", "linux", "team.build"], prefix="more")
    bb_calls, _, out = launch(env, instant, aws_faults, REUSE_IDLE="true")
    assert f"Reusing runner {match.name}" in out
    assert instant.request_count(ROUTE_LIST) == 2, out  # pages 3-20 are never asked for
    assert bb_calls <= 2 + 4, out


def test_a_lost_registration_answer_among_2000_runners_is_found_in_pages_of_100_and_registered_once(
    env: dict[str, str], instant: FakeBitbucket, aws_faults: FaultProxy, ec2: Any
) -> None:
    """sec's lost-POST recovery on scale's paged listing: the registration landed but its answer was dropped;
    the runner is found by name (pages of 100, not Bitbucket's default 10), deleted (its secret was in the lost
    answer), registered again, and the launch ends with one runner of ours, ONLINE."""
    runners = 2000
    world = seed(instant, ec2, runners, 0)
    instant.add_fault("drop", method="POST", path=r"/pipelines-config/runners$", times=1, handled=True)
    _, _, out = launch(env, instant, aws_faults)
    ours = [r for r in instant.repo().runners.values() if "cml.runner.pipe" in r.labels]
    assert [r.status for r in ours] == ["ONLINE"], out
    assert len(instant.repo().runners) == runners + 1 and {r.uuid for r in world.others} <= set(instant.repo().runners)
    # One page to decide, then the recovery's pages up to the lost runner (the last one registered).
    assert instant.request_count(ROUTE_LIST) <= 1 + math.ceil((runners + 1) / 100), out

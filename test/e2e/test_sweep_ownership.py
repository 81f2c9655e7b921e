"""No sweep touches another repository's instance, nor another scope's (issue 13, "The sweep and the repository tag").

The real entry point on every cloud: repositories whose slugs differ only in '.' and '_' (the old slug
tag gave both `acme_ml_seeds`), and one repository's repository and workspace runners, each launching
and each sweeping; every instance survives. Then instances tagged the old, lossy way: only those
proven this repository's (their runner found in its own scope) are ever acted on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from contract_clouds import VM_CLOUDS, CloudUnderTest, ours
from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import output_lines, run_pipe
from sweep_world import OUR_LABELS, live_instance_ids, run_instances, tags_for

from pipe.providers.base import (
    TAG_EXPIRES_AT,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    TAG_RUNNER_SCOPE,
    TAG_RUNNER_UUID,
)
from pipe.providers.tags import legacy_repository_tag

SLUGS = ("ml.seeds", "ml_seeds")  # legacy_repository_tag: "acme_ml_seeds" for both


def step_env(
    cloud_env: dict[str, str], bitbucket: FakeBitbucket, slug: str, scope: str, shared: Path
) -> dict[str, str]:
    return {
        **cloud_env,
        **bitbucket.pipeline_env(workspace="acme", slug=slug),
        **({"CLOUD_REGION": "us-west"} if cloud_env.get("CLOUD") in VM_CLOUDS else {}),  # a cluster has no region
        "CLOUD_TYPE": "m",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.2",
        "AWS_MAX_ATTEMPTS": "1",
        "RUNNER_SCOPE": scope,
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(shared),
    }


def run_ok(env: Mapping[str, str | None]) -> str:
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    return out


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_lookalike_repositories_and_both_scopes_launch_and_sweep_without_touching_each_other(
    cloud: CloudUnderTest, bitbucket: FakeBitbucket, tmp_path: Path
) -> None:
    bitbucket.connect_on_register = True  # the VMs "boot" at once: no stand-in needed
    for slug in SLUGS:
        bitbucket.add_repository("acme", slug, files={"README.md": b"# twin\n"})
    assert legacy_repository_tag("acme", SLUGS[0]) == legacy_repository_tag("acme", SLUGS[1])
    steps = [(SLUGS[0], "repository"), (SLUGS[1], "repository"), (SLUGS[1], "workspace")]
    for slug, scope in steps:
        run_ok(step_env(cloud.env, bitbucket, slug, scope, tmp_path))
    launched = {i.id: i.tags for i in ours(cloud)}
    assert len(launched) == 3
    assert {tags[TAG_REPOSITORY] for tags in launched.values()} == {
        bitbucket.repo("acme", slug).uuid.strip("{}") for slug in SLUGS
    }
    assert sorted(tags[TAG_RUNNER_SCOPE] for tags in launched.values()) == ["repository", "repository", "workspace"]
    runners = bitbucket.all_runners()
    assert len(runners) == 3

    for slug, scope in steps:  # each sweeps, in each scope: the others' instances are alive, never orphans
        out = run_ok({**step_env(cloud.env, bitbucket, slug, scope, tmp_path), "COMMAND": "sweep"})
        assert "0 instance(s) terminated, 0 runner(s) deleted" in out, out

    assert {i.id for i in ours(cloud)} == set(launched)
    assert {uuid: r.status for uuid, r in bitbucket.all_runners().items()} == {uuid: "ONLINE" for uuid in runners}


def legacy_tags(runner_uuid: str, *, expired: bool) -> dict[str, str]:
    """What versions before the UUID tag wrote: the lossy slug value and no scope."""
    now = int(time.time())
    return {
        TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
        TAG_RUNNER_UUID: runner_uuid.strip("{}"),
        TAG_REPOSITORY: legacy_repository_tag("acme", SLUGS[0]),
        TAG_EXPIRES_AT: str(now - 60 if expired else now + 3600),
    }


def test_old_tagged_instances_are_acted_on_only_when_proven_this_repositorys(
    aws_env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy, ec2: Any, tmp_path: Path
) -> None:
    for slug in SLUGS:
        bitbucket.add_repository("acme", slug, files={"README.md": b"# twin\n"})
    [mine] = bitbucket.seed_runners(1, labels=OUR_LABELS, workspace="acme", slug=SLUGS[0], prefix="cml-mine")
    [theirs] = bitbucket.seed_runners(1, labels=OUR_LABELS, workspace="acme", slug=SLUGS[1], prefix="cml-theirs")
    gone = "{0badc0de-0000-4000-8000-00000000000a}"
    [mine_expired, theirs_expired, unknown, mine_live] = run_instances(
        ec2,
        4,
        [
            legacy_tags(mine.uuid, expired=True),  # its runner is in this repository: ours, and expired
            legacy_tags(theirs.uuid, expired=True),  # ml_seeds's: same lossy tag, never ours to touch
            legacy_tags(gone, expired=False),  # runner unknown anywhere: could be anyone's
            legacy_tags(mine.uuid, expired=False),
        ],
    )
    out = run_ok({**step_env(aws_env, bitbucket, SLUGS[0], "repository", tmp_path), "COMMAND": "sweep"})
    assert "1 instance(s) terminated" in out, out
    assert live_instance_ids(ec2) == {theirs_expired, unknown, mine_live}, out
    for left in (theirs_expired, unknown):
        assert f"Instance {left} has the old repository tag" in out
    assert mine_expired not in live_instance_ids(ec2)


# --- a launch's cloud calls do not grow with the instances of ours (issue 19), on every cloud

EXTRA_CLOUD_CALLS = 5  # the goal: within 5 of a launch in an empty repository


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_a_launch_beside_live_and_orphaned_instances_costs_at_most_5_more_cloud_calls(
    cloud: CloudUnderTest, bitbucket: FakeBitbucket, tmp_path: Path
) -> None:
    bitbucket.connect_on_register = True
    env = step_env(cloud.env, bitbucket, "ml-seeds", "repository", tmp_path)

    def cloud_calls() -> int:
        before = cloud.calls() or 0
        run_ok(env)
        return (cloud.calls() or 0) - before

    empty = cloud_calls()
    bitbucket.seed_runners(150, labels=["self.hosted", "linux", "team.build"], prefix="team")
    live = bitbucket.seed_runners(10, labels=OUR_LABELS, prefix="cml-live")  # past the listing's first page
    repository_uuid = bitbucket.repo().uuid
    for n, runner in enumerate(live):
        cloud.seed(f"cml-live{n:06d}", tags_for(runner.uuid, repository_uuid))
    orphans = {cloud.seed(f"cml-orph{n:06d}", tags_for(f"{{0badc0de-0000-4000-8000-{n:012d}}}", repository_uuid,
                                                        age=7200)) for n in range(4)}  # fmt: skip
    busy = cloud_calls()
    assert busy <= empty + EXTRA_CLOUD_CALLS, f"{busy} cloud calls beside 14 instances of ours; {empty} in an empty one"
    left = {i.id for i in ours(cloud)}
    assert len(orphans - left) <= 2  # at most LAUNCH_TERMINATIONS at a launch: the rest is COMMAND: sweep's
    assert len(left) == 1 + 10 + 4 + 1 - len(orphans - left)


def test_without_bitbucket_repo_uuid_the_repository_lookup_names_the_instances(
    aws_env: dict[str, str], bitbucket: FakeBitbucket, aws_faults: FaultProxy, ec2: Any, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {**step_env(aws_env, bitbucket, "ml-seeds", "repository", tmp_path)}
    env["BITBUCKET_REPO_UUID"] = None
    gone = "{0badc0de-0000-4000-8000-00000000000b}"
    [orphan] = run_instances(ec2, 1, [tags_for(gone, bitbucket.repo().uuid)])
    out = run_ok({**env, "COMMAND": "sweep"})
    assert "1 instance(s) terminated" in out and orphan not in live_instance_ids(ec2)

    with bitbucket.lock:
        bitbucket.repo().uuid = "not-a-uuid"
    proc = run_pipe({**env, "COMMAND": "sweep"})
    last = output_lines(proc)[-1]
    assert proc.returncode == 1
    assert "answered without a valid repository uuid" in last and "BITBUCKET_REPO_UUID" in last, last

"""Seeding a busy world cheaply, for the sweep and scale tests and the benchmark.

Runners go straight into the local Bitbucket's state (thousands in milliseconds); instances are made in
moto with one RunInstances for the lot plus one CreateTags each (each needs its own runner's tag).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fakes.bitbucket import FakeBitbucket
from fakes.bitbucket.state import RunnerState
from fakes.moto import UBUNTU_AMI

from pipe.providers.tags import our_tags
from pipe.runner.plan import MARKER_LABEL

OTHER_LABELS = ["self.hosted", "linux", "team.build"]  # another tool's runners in the same repository
OUR_LABELS = ["self.hosted", "linux", "cml.runner", MARKER_LABEL]
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC).isoformat().replace("+00:00", "Z")
ROUTE_LIST = "GET /repositories/{workspace}/{repo_slug}/pipelines-config/runners"
ROUTE_GET = "GET /repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}"


OTHER_REPOSITORY_UUID = "{5e5e5e5e-0000-4000-8000-0000000000aa}"


@dataclass
class World:
    others: list[RunnerState] = field(default_factory=list)
    live: list[RunnerState] = field(default_factory=list)  # ours, ONLINE, each with an instance
    instances: list[str] = field(default_factory=list)  # ids of every seeded instance


def tags_for(runner_uuid: str, repository_uuid: str, *, scope: str = "repository", expires_in: int = 3600,
             age: int = 600) -> dict[str, str]:  # fmt: skip
    now = int(time.time())
    return our_tags(runner_uuid=runner_uuid, repository_uuid=repository_uuid, runner_scope=scope, pipeline="7",
                    created_at=now - age, expires_at=now + expires_in)  # fmt: skip


def run_instances(ec2: Any, count: int, tags: list[dict[str, str]] | None = None) -> list[str]:
    """``count`` running instances in moto (one call), then each one's own tags (one CreateTags each)."""
    if count == 0:
        return []
    made = ec2.run_instances(ImageId=UBUNTU_AMI, InstanceType="t3.micro", MinCount=count, MaxCount=count)
    ids = [raw["InstanceId"] for raw in made["Instances"]]
    for instance_id, own in zip(ids, tags or [], strict=False):
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in own.items()])
    return ids


def seed(bitbucket: FakeBitbucket, ec2: Any, runners: int, instances: int) -> World:
    """N runners registered in the repository and M instances of ours already running.

    min(N, M) of the instances are this repository's, each with its own ONLINE runner (counted among the
    N): other launches that are alive. The rest of the M are another repository's (their runners live
    there). The other runners are another tool's; they come first in the listing, so our live runners
    are past its first page: the worst case for a launch that reads one page.
    """
    world = World()
    mine = min(runners, instances)
    world.others = bitbucket.seed_runners(runners - mine, labels=OTHER_LABELS, prefix="team")
    world.live = bitbucket.seed_runners(mine, labels=OUR_LABELS, prefix="cml-live")
    repository_uuid = bitbucket.repo().uuid
    tags = [tags_for(r.uuid, repository_uuid) for r in world.live]
    tags += [tags_for(f"{{0a0a0a0a-0000-4000-8000-{n:012d}}}", OTHER_REPOSITORY_UUID) for n in range(instances - mine)]
    world.instances = run_instances(ec2, instances, tags)
    return world


def live_instance_ids(ec2: Any) -> set[str]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}],
        PaginationConfig={"PageSize": 1000},
    )
    return {i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]}

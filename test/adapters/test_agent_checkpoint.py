"""Spot recovery on the VM, through the program the VM runs (shipped_agent(True), exec'd as one module): the
agent copies the running step's CHECKPOINT_PATH every interval and once more on the spot notice, before it
stops the runner, with the instance profile's keys from an IMDSv2 stand-in, into moto's S3; the pipe's restore
then finds the newest. A notice without store access is one clear line, and the instance still ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from fakes.clock import FakeClock
from fakes.imds import Imds

from pipe.bootstrap import checkpoints
from pipe.bootstrap.render import shipped_agent
from pipe.bootstrap.store_s3 import AwsKeys, S3Objects

KEYS = AwsKeys("AKIAFAKEFORTESTS0001", "fake-aws-secret-key-for-tests-0001")
BUCKET = "cml-checkpoints-test"
BASE = "11111111-2222-3333-4444-555555555555/0123456789abcdef/checkpoints"


@pytest.fixture()
def imds() -> Iterator[Imds]:
    server = Imds(keys={"AccessKeyId": KEYS.access_key, "SecretAccessKey": KEYS.secret_key, "Token": "session"})
    yield server
    server.stop()


@pytest.fixture()
def program() -> Any:
    namespace: dict[str, Any] = {"__name__": "cml_agent"}
    exec(compile(shipped_agent(True), "cml-agent", "exec"), namespace)  # noqa: S102 - the VM's own program
    return SimpleNamespace(**namespace)


@pytest.fixture()
def s3(moto: Any) -> Any:
    client = boto3.client("s3", region_name="us-east-1", endpoint_url=moto.url,
                          aws_access_key_id=KEYS.access_key, aws_secret_access_key=KEYS.secret_key)  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    return client


class Host:
    """One step running from t=0; the agent's stop of the runner is recorded with the time."""

    def __init__(self, clock: FakeClock, events: list[str]) -> None:
        self.clock, self.events = clock, events

    def step_containers(self) -> list[str]:
        return [] if "stop" in self.events else ["step-1"]

    def runner_log(self) -> list[str]:
        return []

    def stop_runner(self) -> None:
        self.events.append("stop")

    def drain_runner(self) -> None: ...

    def runner_running(self) -> bool:
        return "stop" not in self.events

    def start_runner(self) -> None: ...

    def tell_steps(self, message: str) -> None:
        self.events.append("told")


def _agent(program: Any, imds: Imds, moto: Any, clone: Path, events: list[str], clock: FakeClock) -> Any:
    cfg = {"store": {"cloud": "aws", "bucket": BUCKET, "region": "us-east-1", "endpoint": moto.url},
           "base": BASE, "path": "checkpoints", "interval_s": 60}  # fmt: skip
    agent_cfg = {"cloud": "aws", "imds_url": imds.url, "runner_uuid": "{0a1b2c3d-1111-2222-3333-444455556666}"}
    objects = program.objects_for(cfg, program.instance_keys(imds.url, program.http))
    saver = program.Saver(cfg, objects, lambda: str(clone), events.append, now=clock.now)
    cloud = program.with_checkpoints(program.CloudMetadata, saver_for=lambda cfg, log: saver)(
        agent_cfg, power_off=lambda: events.append("power-off"), log=events.append)  # fmt: skip
    return program.Agent(idle_timeout_s=300, max_lifetime_s=3600, started_at=0, single=False, clock=clock,
                         host=Host(clock, events), cloud=cloud, log=events.append)  # fmt: skip


def _run_until(agent: Any, clock: FakeClock, t: float) -> str | None:
    while clock.t < t:
        reason = agent.poll()
        if reason:
            return str(reason)
        clock.sleep(5)
    return None


def test_interval_copies_then_the_notice_copy_before_the_runner_stops(
    program: Any, imds: Imds, moto: Any, s3: Any, tmp_path: Path
) -> None:
    clone, events, clock = tmp_path / "build", [], FakeClock()
    (clone / "checkpoints").mkdir(parents=True)
    agent = _agent(program, imds, moto, clone, events, clock)
    (clone / "checkpoints" / "epoch-1.pt").write_bytes(b"w1")
    assert _run_until(agent, clock, 70) is None
    assert any("checkpoint (interval):" in e and "saved, 1 files" in e for e in events), events
    (clone / "checkpoints" / "epoch-2.pt").write_bytes(b"w2")
    imds.notice = '{"action": "terminate", "time": "2026-12-08T01:00:00Z"}'
    reason = _run_until(agent, clock, 200)
    assert reason is not None and reason.startswith("interrupted: AWS spot instance-action")
    copied = next(i for i, e in enumerate(events) if "checkpoint (interruption):" in e and "saved, 2 files" in e)
    assert copied < events.index("stop") < events.index("power-off")
    pipe_side = S3Objects(BUCKET, lambda: KEYS, endpoint=moto.url)
    restored = checkpoints.restore(pipe_side, BASE, str(tmp_path / "rerun" / "checkpoints"))
    assert restored is not None and restored["reason"] == "interruption"
    assert sorted(p.name for p in (tmp_path / "rerun" / "checkpoints").iterdir()) == ["epoch-1.pt", "epoch-2.pt"]
    assert any("/latest/meta-data/iam/security-credentials/" in r for r in imds.requests)


def test_a_notice_without_store_access_is_one_line_and_the_instance_still_ends(
    program: Any, imds: Imds, moto: Any, s3: Any, tmp_path: Path
) -> None:
    imds.role = ""  # no instance profile (CLOUD_PERMISSION_SET missing or without the policy)
    clone, events, clock = tmp_path / "build", [], FakeClock()
    (clone / "checkpoints").mkdir(parents=True)
    (clone / "checkpoints" / "epoch-1.pt").write_bytes(b"w1")
    agent = _agent(program, imds, moto, clone, events, clock)
    imds.notice = '{"action": "terminate"}'
    assert str(_run_until(agent, clock, 30)).startswith("interrupted")
    [line] = [e for e in events if "FAILED" in e]
    assert line == ("checkpoint (interruption) FAILED, the previous one stays latest: the instance has no instance "
                    "profile (CLOUD_PERMISSION_SET) to write the checkpoints")  # fmt: skip
    assert events[-2:] == ["stop", "power-off"] or events.index("stop") < events.index("power-off")
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_no_copy_while_idle_and_the_interval_counts_from_the_step(program: Any, tmp_path: Path) -> None:
    clock, events, saved = FakeClock(), [], []
    saver = program.Saver({"base": "b", "path": "c", "interval_s": 60}, None,
                          lambda: "/clone" if clock.t >= 100 else None, events.append, now=clock.now)  # fmt: skip

    def copy(reason: str) -> None:
        saved.append((clock.t, reason))
        saver.last = clock.t

    saver.copy = copy
    for t in range(0, 200, 5):
        clock.t = t
        saver.tick()
    assert saved == [(155, "interval")]  # 60 s after the last idle poll (95): one poll after the step started


def test_only_the_recovery_agent_carries_the_checkpoint_code() -> None:
    assert "class Saver" in shipped_agent(True) and "CloudMetadata = with_checkpoints(CloudMetadata)" in (
        shipped_agent(True))  # fmt: skip
    assert "Saver" not in shipped_agent() and "checkpoint" not in shipped_agent()


def test_the_clone_is_found_by_the_build_containers_mount(program: Any) -> None:
    mounts = {"pause": "[]", "build": json.dumps([
        {"Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock"},
        {"Source": "/tmp/abc/build", "Destination": "/opt/atlassian/pipelines/agent/build"}])}  # fmt: skip
    assert program.clone_on_host(["pause", "build"], inspect=mounts.__getitem__) == "/tmp/abc/build"
    assert program.clone_on_host(["pause"], inspect=mounts.__getitem__) is None


def test_a_checkpoint_path_leading_out_of_the_clone_is_never_copied(program: Any, tmp_path: Path) -> None:
    clone = tmp_path / "build"
    clone.mkdir()
    (clone / "checkpoints").symlink_to("/etc")
    assert program.inside(str(clone), "checkpoints") is None
    (clone / "ok").mkdir()
    assert program.inside(str(clone), "ok") == str((clone / "ok").resolve())


def test_the_relaunch_is_spot_then_on_demand_then_capped(program: Any, imds: Imds, moto: Any, s3: Any) -> None:
    """SPOT_ATTEMPTS 2: the first interruption relaunches on spot, the second on-demand; past the cap, none. The
    replacement has this instance's image, type, subnet, groups, profile and boot script, and our tags."""
    from fakes.moto import UBUNTU_AMI

    ec2 = boto3.client("ec2", region_name="us-west-1", endpoint_url=moto.url, aws_access_key_id=KEYS.access_key,
                       aws_secret_access_key=KEYS.secret_key)  # fmt: skip
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id=KEYS.access_key,
                       aws_secret_access_key=KEYS.secret_key)  # fmt: skip
    profile = iam.create_instance_profile(InstanceProfileName="cml-checkpoints")["InstanceProfile"]["Arn"]
    subnet = ec2.describe_subnets()["Subnets"][0]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    md = "/latest/meta-data/"
    imds.meta = {md + "ami-id": UBUNTU_AMI.encode(), md + "instance-type": b"m5.large", md + "mac": b"0a:00",
                 md + "network/interfaces/macs/0a:00/subnet-id": subnet["SubnetId"].encode(),
                 md + "network/interfaces/macs/0a:00/security-group-ids": group.encode(),
                 md + "iam/info": json.dumps({"InstanceProfileArn": profile}).encode(),
                 md + "placement/region": b"us-west-1", md + "block-device-mapping/root": b"/dev/sda1",
                 "/latest/user-data": b"#!/bin/bash\necho boot\n"}  # fmt: skip
    tags = {"cml-managed-by": "cml-runner-pipe", "cml-runner-uuid": "0a1b2c3d-1111-2222-3333-444455556666"}
    relaunch = {"spot_attempts": 2, "disk_gb": 40, "endpoint": moto.url,
                "tags_b64": __import__("base64").b64encode(json.dumps(tags).encode()).decode()}  # fmt: skip
    cfg = {"store": {"cloud": "aws", "bucket": BUCKET, "region": "us-east-1", "endpoint": moto.url}, "base": BASE,
           "path": "checkpoints", "interval_s": 60, "relaunch": relaunch}  # fmt: skip
    keys = program.instance_keys(imds.url, program.http)
    logged: list[str] = []
    agent_cfg = {"imds_url": imds.url, "runner_uuid": "{0a1b2c3d-1111-2222-3333-444455556666}"}
    relauncher = program.Relauncher(cfg, agent_cfg, program.objects_for(cfg, keys), keys, logged.append)
    first, second = relauncher(), relauncher()
    assert first and second, logged
    found = {i["InstanceId"]: i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    spot, on_demand = found[first], found[second]
    assert spot.get("InstanceLifecycle") == "spot" and "InstanceLifecycle" not in on_demand
    assert {t["Key"]: t["Value"] for t in spot["Tags"]}["cml-attempt"] == "2"
    assert {t["Key"]: t["Value"] for t in on_demand["Tags"]}["cml-runner-uuid"] == tags["cml-runner-uuid"]
    assert (spot["ImageId"], spot["InstanceType"], spot["SubnetId"]) == (UBUNTU_AMI, "m5.large", subnet["SubnetId"])
    assert spot["IamInstanceProfile"]["Arn"] == profile
    assert relauncher() is not None  # a third interruption (the on-demand one): still within the cap, on-demand
    assert relauncher() is None and logged[-1].endswith("the cap; not relaunching")
    assert "interruption 1, replacement" in logged[0] and "(spot)" in logged[0] and "(on-demand)" in logged[1]


def test_a_refused_relaunch_is_one_line(program: Any, imds: Imds, moto: Any, s3: Any) -> None:
    cfg = {"store": {"cloud": "aws", "bucket": BUCKET, "region": "us-east-1", "endpoint": moto.url}, "base": BASE,
           "path": "checkpoints", "interval_s": 60,
           "relaunch": {"spot_attempts": 2, "disk_gb": 40, "endpoint": moto.url, "tags_b64": "e30="}}  # fmt: skip
    imds.meta = {"/latest/meta-data/iam/info": b"{}"}
    keys = program.instance_keys(imds.url, program.http)
    logged: list[str] = []
    relauncher = program.Relauncher(cfg, {"imds_url": imds.url, "runner_uuid": "{0a1b}"},
                                    program.objects_for(cfg, keys), keys, logged.append)  # fmt: skip
    assert relauncher() is None
    assert logged == ["relaunch FAILED after interruption: the instance's metadata names no instance profile "
                      "(iam/info) to pass on; the retried step waits for a runner"]  # fmt: skip

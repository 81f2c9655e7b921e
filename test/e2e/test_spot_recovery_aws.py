"""Runner mode with SPOT_RECOVERY on AWS, the real pipe process against moto and the local Bitbucket: the bucket
of ours is created (or CHECKPOINT_STORE's checked) and the instance policy printed before anything is launched;
the instance's boot script carries the agent's checkpoint settings and code and no key; a missing instance
profile fails before anything exists."""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from fakes.bitbucket import FakeBitbucket
from fakes.imds import InstanceMetadata, agent_from_script
from fixtures_aws import our_instances, user_data_source
from fixtures_pipe import output_lines, pipe_env, run_pipe, strip_ansi
from vm_standin import VmStandIn


@pytest.fixture()
def env(aws_runner_env: dict[str, str], moto: Any) -> dict[str, str]:
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="AKIAFAKE",
                       aws_secret_access_key="fake")  # fmt: skip
    iam.create_instance_profile(InstanceProfileName="cml-checkpoints")
    # moto's S3 directly: the EC2 fault proxy in front of moto speaks EC2 only.
    return {**aws_runner_env, "AWS_ENDPOINT_URL_S3": moto.url, "CLOUD_SPOT": "true", "SPOT_RECOVERY": "true",
            "CHECKPOINT_PATH": "checkpoints/",
            "CHECKPOINT_INTERVAL": "2min", "CLOUD_PERMISSION_SET": "cml-checkpoints"}  # fmt: skip


@pytest.fixture()
def s3(moto: Any) -> Any:
    return boto3.client("s3", region_name="us-west-1", endpoint_url=moto.url, aws_access_key_id="AKIAFAKE",
                        aws_secret_access_key="fake")  # fmt: skip


def failure_line(proc: Any) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


def _script(ec2: Any) -> str:
    [data] = user_data_source(ec2)().values()
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()


def test_the_launch_prepares_the_store_and_tells_the_agent(
    env: dict[str, str], ec2: Any, s3: Any, bitbucket: FakeBitbucket, aws_vm: VmStandIn
) -> None:
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    [bucket] = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("cml-checkpoints-")]
    assert f"Checkpoint bucket {bucket}: created." in out
    repo = bitbucket.repo().uuid.strip("{}")
    base = f"{repo}/{pipe_env(env)['BITBUCKET_COMMIT']}/checkpoints"
    assert f"Spot recovery: s3://{bucket}/{base}/ every 120 s and on a notice; instance profile cml-checkpoints " \
        f"needs: " in out and f"arn:aws:s3:::{bucket}/{base}/*" in out  # fmt: skip
    script = _script(ec2)
    agent_json = json.loads(re.search(r"<<CML_AGENT_JSON\n(.*?)\nCML_AGENT_JSON", script, re.S).group(1))
    assert agent_json["checkpoint"]["store"]["bucket"] == bucket and agent_json["checkpoint"]["base"] == base
    assert agent_json["checkpoint"]["interval_s"] == 120
    relaunch = agent_json["checkpoint"]["relaunch"]
    assert (relaunch["spot_attempts"], relaunch["disk_gb"]) == (2, 35)
    [raw] = our_instances(ec2)
    tags = json.loads(base64.b64decode(relaunch["tags_b64"]))
    assert tags == {t["Key"]: t["Value"] for t in raw["Tags"] if t["Key"].startswith("cml-")}
    assert '"ec2:RunInstances"' in out and "aws:RequestTag/cml-repository" in out
    assert env["AWS_SECRET_ACCESS_KEY"] not in script and env["BITBUCKET_ACCESS_TOKEN"] not in script
    assert run_pipe(env).returncode == 0  # a second launch reuses the bucket
    assert len([b for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("cml-checkpoints-")]) == 1


def test_without_an_instance_profile_nothing_is_launched(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket
) -> None:
    proc = run_pipe({**env, "CLOUD_PERMISSION_SET": None})
    assert proc.returncode == 1
    assert failure_line(proc).startswith("✖ SPOT_RECOVERY on AWS needs CLOUD_PERMISSION_SET: an instance profile")
    assert our_instances(ec2) == [] and list(bitbucket.repo().runners.values()) == []


def test_a_store_bucket_that_cannot_be_read_launches_nothing(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket
) -> None:
    proc = run_pipe({**env, "CHECKPOINT_STORE": "s3://no-such-bucket-here/ml"})
    assert proc.returncode == 1
    assert "CHECKPOINT_STORE: bucket no-such-bucket-here: NoSuchBucket" in failure_line(proc)
    assert our_instances(ec2) == [] and list(bitbucket.repo().runners.values()) == []


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_an_interruption_end_to_end(
    env: dict[str, str], ec2: Any, s3: Any, moto: Any, bitbucket: FakeBitbucket, aws_vm: VmStandIn, tmp_path: Path
) -> None:
    """The runner step launches; the instance's own agent program (as rendered into its user data) trains along,
    gets the spot notice from an IMDSv2 stand-in that answers as that instance, copies the checkpoints and
    starts its on-spot replacement with the same boot script; the retried step's `COMMAND: restore` (the real
    pipe process) brings the checkpoints back and the training goes on from epoch 3, not 1."""
    assert run_pipe(env).returncode == 0
    [first] = our_instances(ec2)
    agent_cfg, program = agent_from_script(_script(ec2))

    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto.url, aws_access_key_id="AKIAFAKE",
                       aws_secret_access_key="fake")  # fmt: skip
    profile = iam.get_instance_profile(InstanceProfileName="cml-checkpoints")["InstanceProfile"]["Arn"]
    imds = InstanceMetadata(first, profile, user_data=dict(user_data_source(ec2)())[first["InstanceId"]])
    agent_cfg["imds_url"] = imds.url
    clone = tmp_path / "vm" / "build"
    clone.mkdir(parents=True)
    seeds = Path(__file__).resolve().parents[2] / "examples" / "seeds"
    subprocess.run([sys.executable, str(seeds / "data.py")], cwd=clone, check=True, capture_output=True)
    subprocess.run([sys.executable, str(seeds / "train_epochs.py"), "--epochs", "2"], cwd=clone, check=True,
                   capture_output=True)  # the epochs done before the notice  # fmt: skip
    events: list[str] = []
    saving = program["with_checkpoints"](program["CloudMetadata"])
    cloud = saving(agent_cfg, power_off=lambda: events.append("power-off"), log=events.append)
    cloud.saver.locate = lambda: str(clone)  # the build container's mount (Docker is not asked here)
    assert cloud.interruption() is None  # no notice yet: an interval tick only
    imds.notice = '{"action": "terminate"}'
    assert cloud.interruption().startswith("AWS spot instance-action")
    assert any("checkpoint (interruption):" in e and "saved, 2 files" in e for e in events), events
    replacements = [i for i in our_instances(ec2) if i["InstanceId"] != first["InstanceId"]]
    assert len(replacements) == 1, events
    [second] = replacements
    assert second.get("InstanceLifecycle") == "spot"
    # same boot script, same runner
    assert dict(user_data_source(ec2)())[second["InstanceId"]] == imds.meta["/latest/user-data"]

    rerun = tmp_path / "rerun"
    rerun.mkdir()
    restore_env = {"COMMAND": "restore", "CHECKPOINT_PATH": "checkpoints/", "AWS_ENDPOINT_URL": moto.url,
                   "AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_DEFAULT_REGION": "us-west-1",
                   "BITBUCKET_ACCESS_TOKEN": None, "BITBUCKET_REPO_UUID": env.get("BITBUCKET_REPO_UUID"),
                   "BITBUCKET_COMMIT": pipe_env(env)["BITBUCKET_COMMIT"]}  # fmt: skip
    proc = run_pipe(restore_env, cwd=rerun)
    assert proc.returncode == 0 and "(interruption, attempt 2 after 1 interruption) into checkpoints/" in (
        proc.stdout), proc.stdout + proc.stderr  # fmt: skip
    subprocess.run([sys.executable, str(seeds / "data.py")], cwd=rerun, check=True, capture_output=True)
    resumed = subprocess.run([sys.executable, str(seeds / "train_epochs.py"), "--epochs", "4"], cwd=rerun,
                             check=True, capture_output=True, text=True)  # fmt: skip
    assert "Resumed from the checkpoint of epoch 2: training from epoch 3" in resumed.stdout


def test_dry_run_names_the_recovery_and_creates_nothing(env: dict[str, str], ec2: Any, s3: Any) -> None:
    proc = run_pipe({**env, "DRY_RUN": "true"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Plan: spot recovery: checkpoints/ to the bucket of ours every 120 s and on a notice; on-demand after 2 " \
        "interruptions" in "\n".join(output_lines(proc))  # fmt: skip
    assert s3.list_buckets()["Buckets"] == [] and our_instances(ec2) == []

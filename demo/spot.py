"""`make demo DEMO_ARGS=--spot`: a spot interruption mid-training and the resumed run, on this machine.

It plays examples/seeds/bitbucket-pipelines-spot.yml with a local Bitbucket and moto's EC2 and S3:

 1. the runner step (the real `python -m pipe`, SPOT_RECOVERY on): the bucket of ours, the policy, the spot
    instance, whose boot script the VM stand-in runs until its runner is ONLINE;
 2. the training step, first attempt, on that instance: `COMMAND: restore` (nothing yet), epochs 1 to 3;
 3. the spot notice, from an IMDSv2 stand-in answering as that instance: the instance's own agent program
    (unpacked from its user data) copies checkpoints/ to S3 and starts its replacement; the cloud takes the
    instance back;
 4. the retried training step on the replacement: `COMMAND: restore`, then the training goes on from epoch 4.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import yaml
from fakes.aws import FakeAws
from fakes.bitbucket import FakeBitbucket
from fakes.imds import InstanceMetadata, agent_from_script
from fakes.isolation import isolated_env
from vm_standin import VmStandIn

from demo.example import EXAMPLE, REPO_SLUG, WORKSPACE, example_files
from demo.output import plain, say

TOKEN = "demo-access-token-local-only"  # noqa: S105 - accepted by the local Bitbucket only
EPOCHS_BEFORE, EPOCHS = 3, 6


def _step(title: str) -> float:
    say(title)
    return time.monotonic()


def _child(argv: list[str], env: dict[str, str], cwd: Path, workdir: Path, *, only: tuple[str, ...] = ()) -> str:
    """Run one command of a step; its lines shown indented (with `only`, the lines holding one of those)."""
    full = {**isolated_env(workdir / "home"), **env}
    done = subprocess.run(argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=300, check=False)
    for line in plain(done.stdout + done.stderr).splitlines():
        if line.strip() and (not only or any(word in line for word in only) or done.returncode):
            say("      " + (line if len(line) < 200 else line[:197] + "..."))
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {done.returncode}")
    return done.stdout


def _checkout(files: dict[str, bytes], clone: Path) -> None:
    for name, content in files.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_bytes(content)


def run_spot(workdir: Path) -> None:
    pipeline = yaml.safe_load((EXAMPLE / "bitbucket-pipelines-spot.yml").read_text())["pipelines"]["branches"]["main"]
    runner_vars = {k: str(v) for k, v in pipeline[0]["step"]["script"][0]["variables"].items()
                   if not str(v).startswith("$")}  # fmt: skip
    bitbucket, aws, standin, imds = None, None, None, None
    try:
        t = _step("[1/4] Local Bitbucket, moto (EC2, S3, IAM) and the VM stand-in; step 1, runner mode")
        bitbucket = FakeBitbucket(seed=False).start()
        bitbucket.add_token(TOKEN)
        repo = bitbucket.add_repository(WORKSPACE, REPO_SLUG, files=example_files())
        aws = FakeAws.start_local("us-west-1")
        client: dict[str, Any] = {"endpoint_url": aws.url, "aws_access_key_id": aws.cloud_env()["AWS_ACCESS_KEY_ID"],
                                  "aws_secret_access_key": aws.cloud_env()["AWS_SECRET_ACCESS_KEY"]}  # fmt: skip
        iam = boto3.client("iam", region_name="us-east-1", **client)
        profile = iam.create_instance_profile(InstanceProfileName=runner_vars["CLOUD_PERMISSION_SET"])
        (workdir / "vms").mkdir(parents=True, exist_ok=True)
        standin = VmStandIn(aws.boot_payloads, f"{bitbucket.root_url}/_fake/oauth2/token", poll_s=0.2,
                            _dir=str(workdir / "vms")).start()  # fmt: skip
        build = {**bitbucket.pipeline_env(TOKEN, WORKSPACE, REPO_SLUG), "BITBUCKET_BUILD_NUMBER": "1",
                 "CML_RUNNER_POLL_SECONDS": "0.3", "WAIT_TIMEOUT": "2min"}  # fmt: skip
        runner_env = {**build, **aws.cloud_env(), **runner_vars, "BITBUCKET_CLONE_DIR": str(workdir)}
        _child([sys.executable, "-m", "pipe"], runner_env, Path(__file__).resolve().parent.parent, workdir,
               only=("spot recovery", "Spot recovery", "Checkpoint bucket", "Launching", "ONLINE"))  # fmt: skip
        [first] = aws.described(ours_only=True)
        say(f"      done in {time.monotonic() - t:.1f}s: spot instance {first['InstanceId']}")

        t = _step(f"[2/4] Step 2, attempt 1, on {first['InstanceId']}: restore, then epochs 1-{EPOCHS_BEFORE}")
        clone = workdir / "vm-1" / "build"
        _checkout(repo.commits[repo.branches[repo.main_branch]].tree, clone)
        restore = {**build, "COMMAND": "restore", "CHECKPOINT_PATH": runner_vars["CHECKPOINT_PATH"],
                   **aws.cloud_env(), "BITBUCKET_ACCESS_TOKEN": ""}  # fmt: skip
        restore.pop("CLOUD")
        pipe = [sys.executable, "-m", "pipe"]
        root = Path(__file__).resolve().parent.parent
        _child(pipe, {**restore, "BITBUCKET_CLONE_DIR": str(clone)}, root, workdir)
        _child([sys.executable, "data.py"], {}, clone, workdir)
        _child([sys.executable, "train_epochs.py", "--epochs", str(EPOCHS_BEFORE)], {}, clone, workdir)
        say(f"      done in {time.monotonic() - t:.1f}s")

        t = _step("[3/4] The spot notice (IMDSv2 stand-in): the instance's own agent copies and relaunches")
        payloads = aws.boot_payloads()
        imds = InstanceMetadata(first, profile["InstanceProfile"]["Arn"], payloads[first["InstanceId"]])
        script = payloads[first["InstanceId"]]
        agent_cfg, program = agent_from_script(script)
        agent_cfg["imds_url"] = imds.url

        def agent_log(line: str) -> None:
            say("      cml-agent: " + line)

        cloud = program["with_checkpoints"](program["CloudMetadata"])(agent_cfg, power_off=lambda: None, log=agent_log)
        cloud.saver.locate = lambda: str(clone)
        imds.notice = '{"action": "terminate"}'
        say("      notice: " + str(cloud.interruption()))
        aws.ec2.terminate_instances(InstanceIds=[first["InstanceId"]])  # the cloud takes it back
        second = next(i for i in aws.described(ours_only=True) if i["InstanceId"] != first["InstanceId"])
        market = "spot" if second.get("InstanceLifecycle") == "spot" else "on-demand"
        say(f"      done in {time.monotonic() - t:.1f}s: replacement {second['InstanceId']} ({market}); "
            f"Bitbucket retries the step (on-fail: retry) once its runner is ONLINE")  # fmt: skip

        t = _step(f"[4/4] Step 2, attempt 2, on {second['InstanceId']}: restore, then on to epoch {EPOCHS}")
        clone2 = workdir / "vm-2" / "build"
        _checkout(repo.commits[repo.branches[repo.main_branch]].tree, clone2)
        _child(pipe, {**restore, "BITBUCKET_CLONE_DIR": str(clone2)}, root, workdir)
        _child([sys.executable, "data.py"], {}, clone2, workdir)
        out = _child([sys.executable, "train_epochs.py", "--epochs", str(EPOCHS)], {}, clone2, workdir)
        if f"training from epoch {EPOCHS_BEFORE + 1}" not in out:
            raise RuntimeError("the retried training did not resume from its checkpoint")
        say(f"      done in {time.monotonic() - t:.1f}s: resumed from epoch {EPOCHS_BEFORE}, not from the beginning")
    finally:
        for thing in (imds, standin, aws, bitbucket):
            if thing is not None:
                thing.stop()

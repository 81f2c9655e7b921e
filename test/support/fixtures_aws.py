"""AWS fixtures: moto_server on 127.0.0.1 (one per test session), reset before each test.

- `moto`: the running MotoServer (url, reset()).
- `aws_env`: the variables a pipe run needs to reach it (endpoint, dummy keys).
- `aws_faults`: a FaultProxy in front of moto; `aws_env` routes through it, so a
  test adds `aws_faults.faults.append(Fault(...))` to inject capacity errors.
- `ec2`: a boto3 EC2 client on moto directly, for asserting what exists.
- `aws_runner_env`: a runner-mode run on AWS (aws_env, bb_env, a short poll, no botocore retries).
- `aws_vm`: the VM stand-in, booting each new instance of ours from its boot payload (FakeAws).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from fakes.aws import FakeAws
from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fakes.moto import AMI_ROOT_GB, MotoServer
from vm_standin import VmStandIn

AWS_REGION = "us-west-1"


@pytest.fixture(scope="session")
def moto_session() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aws_fault_proxy(moto_session: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_session.url, AMI_ROOT_GB).start()
    yield proxy
    proxy.stop()


@pytest.fixture()
def moto(moto_session: MotoServer) -> MotoServer:
    moto_session.reset()
    return moto_session


@pytest.fixture()
def aws_faults(moto: MotoServer, aws_fault_proxy: FaultProxy) -> Iterator[FaultProxy]:
    aws_fault_proxy.faults.clear()
    aws_fault_proxy.injected = 0
    aws_fault_proxy.record.clear()
    aws_fault_proxy.answers.clear()
    aws_fault_proxy.images.reset()
    aws_fault_proxy.quotas.reset()
    yield aws_fault_proxy
    aws_fault_proxy.faults.clear()
    aws_fault_proxy.record.clear()


@pytest.fixture()
def aws_env(aws_faults: FaultProxy) -> dict[str, str]:
    return {
        "CLOUD": "aws",
        "AWS_ENDPOINT_URL": aws_faults.url,
        "AWS_ACCESS_KEY_ID": "AKIAFAKEFORTESTS0001",
        "AWS_SECRET_ACCESS_KEY": "fake-aws-secret-key-for-tests-0001",
        "AWS_DEFAULT_REGION": AWS_REGION,
    }


@pytest.fixture()
def ec2(moto: MotoServer) -> Any:
    return boto3.client(
        "ec2",
        region_name=AWS_REGION,
        endpoint_url=moto.url,
        aws_access_key_id="AKIAFAKEFORTESTS0001",
        aws_secret_access_key="fake-aws-secret-key-for-tests-0001",
        config=Config(retries={"max_attempts": 1}),
    )


def our_instances(
    ec2: Any, states: tuple[str, ...] = ("pending", "running", "stopping", "stopped")
) -> list[dict[str, Any]]:
    """Instances tagged as ours, in the given states, as EC2 describes them."""
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:cml-managed-by", "Values": ["cml-runner-pipe"]},
            {"Name": "instance-state-name", "Values": list(states)},
        ]
    )
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def user_data_source(ec2: Any) -> Callable[[], dict[str, bytes]]:
    """What the VM stand-in boots on AWS: the emulated cloud's boot payloads (fakes/emulated.py)."""
    return FakeAws(ec2).boot_payloads


@pytest.fixture()
def aws_runner_env(aws_env: dict[str, str], bb_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    return {
        **aws_env,
        **bb_env,
        "CLOUD_REGION": "us-west",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.2",
        "AWS_MAX_ATTEMPTS": "1",  # capacity errors are HTTP 500: no botocore retries in tests not about them
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture()
def aws_vm(ec2: Any, bitbucket: FakeBitbucket) -> Iterator[VmStandIn]:
    standin = VmStandIn(user_data_source(ec2), f"{bitbucket.root_url}/_fake/oauth2/token").start()
    yield standin
    standin.stop()

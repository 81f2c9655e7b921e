"""DEBUG on every cloud (issue 13): the SDKs' wire logs stay off, no secret and no user-data body is printed,
and the pipe's own DEBUG lines still say what it called. Same emulated clouds as the contract suite."""

from __future__ import annotations

import base64
from typing import Any

from contract_clouds import CloudUnderTest, KubernetesCloud
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import run_pipe, strip_ansi
from pod_standin import PodStandIn
from test_contract_clouds import env, runners, vm  # noqa: F401  # the contract suite's fixtures (cloud: fixtures_clouds)
from vm_standin import VmStandIn

# What the SDKs' and HTTP libraries' own DEBUG/INFO logging prints: azure-core's http_logging_policy,
# google-auth's transport, urllib3's connection pool, botocore's endpoint and parsers, the kubernetes client.
WIRE_LOG_MARKERS = (
    "Request URL:",
    "Request headers:",
    "Response headers:",
    "Request body",
    "Making request:",
    "Starting new HTTP",
    "Response body:",
    "response body:",  # the kubernetes client's rest.py, for every call (a Secret's data included)
    "Sending http request",
    "x-amz-security-token",
)


def test_debug_prints_no_wire_log_secret_or_user_data(
    cloud: CloudUnderTest,
    env: dict[str, str],  # noqa: F811
    bitbucket: FakeBitbucket,
    vm: VmStandIn | PodStandIn,  # noqa: F811
) -> None:
    proc = run_pipe({**env, "DEBUG": "true"})
    out = strip_ansi(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    for marker in WIRE_LOG_MARKERS:
        assert marker not in out, f"an SDK wire log line is in the output: {marker}"
    [runner] = runners(bitbucket)
    secret = runner.oauth_client_secret
    assert secret not in out
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret.encode()).decode()
        assert encoded[4:20] not in out, f"the runner's secret is in the output in base64 (offset {offset})"
    if isinstance(cloud, KubernetesCloud):  # no boot script: the Job's body (the agent's program) is what is sent
        [job] = cloud.fake.objects("jobs")
        [agent] = job["spec"]["template"]["spec"]["containers"]
        program = agent["command"][2]
        assert program[200:260] not in out and program[200:260].replace("\n", "\\n") not in out
    else:
        [user_data] = cloud.user_data().values()
        raw: Any = user_data.encode() if isinstance(user_data, str) else user_data
        assert base64.b64encode(raw).decode()[8:48] not in out and raw[:200].decode(errors="ignore") not in out
    assert "bitbucket -> POST" in out  # the pipe's own DEBUG lines are there

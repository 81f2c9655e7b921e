"""Runner mode under attack or with a misbehaving Bitbucket (issue 13): no credential in the output even with
DEBUG, a registration whose answer was lost leaves one runner, a malformed answer rolls everything back.

The real entry point against moto_server (through the fault proxy), the local Bitbucket and the stand-in VM.
After every failure the emulated cloud and Bitbucket are listed: nothing of ours is left.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from fakes.aws_faults import FaultProxy
from fakes.bitbucket import FakeBitbucket
from fixtures_aws import our_instances, user_data_source
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from test_runner_aws import assert_nothing_left, failure_line, runners
from vm_standin import VmStandIn

CREATE = r"/pipelines-config/runners$"
ONE_RUNNER = r"/pipelines-config/runners/%7B"


@pytest.fixture()
def vm(aws_vm: VmStandIn) -> VmStandIn:
    return aws_vm


@pytest.fixture()
def env(aws_runner_env: dict[str, str]) -> dict[str, str]:
    return aws_runner_env


def everything(proc: Any) -> str:
    return strip_ansi(proc.stdout + proc.stderr)


def assert_hidden(secret: str, text: str) -> None:
    """Neither the secret nor its base64 rendering at any of the three byte alignments it can start at
    inside a larger blob: 16 characters from the 5th on depend on the secret's bytes alone."""
    assert secret not in text
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret.encode()).decode()
        for alphabet in (encoded, encoded.replace("+", "-").replace("/", "_")):
            assert alphabet[4:20] not in text, f"the secret is in the output in base64 (offset {offset})"


def xml_value(body: bytes, tag: str) -> str:
    found = re.search(rf"<{tag}>([^<]+)</{tag}>", body.decode())
    assert found, tag
    return found.group(1)


def test_debug_with_aws_oidc_prints_no_credential_user_data_or_wire_log(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, aws_faults: FaultProxy, vm: VmStandIn
) -> None:
    aws_faults.record.update({"AssumeRoleWithWebIdentity"})
    oidc = {
        **{k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
        "AWS_OIDC_ROLE_ARN": "arn:aws:iam::123456789012:role/cml-runner",
        "BITBUCKET_STEP_OIDC_TOKEN": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdGVwIn0.c2lnbmF0dXJlLW9mLXRoZS1zdGVw",
        "DEBUG": "true",
    }
    proc = run_pipe(oidc)
    out = everything(proc)
    assert proc.returncode == 0, out

    [(_, answer)] = aws_faults.answers
    for tag in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        assert_hidden(xml_value(answer, tag), out)
    [runner] = runners(bitbucket)
    assert_hidden(runner.oauth_client_secret, out)
    assert_hidden(oidc["BITBUCKET_STEP_OIDC_TOKEN"], out)
    assert_hidden(oidc["BITBUCKET_ACCESS_TOKEN"], out)
    [user_data] = user_data_source(ec2)().values()
    assert base64.b64encode(user_data).decode()[:40] not in out  # the user-data body is never logged
    assert "x-amz-security-token" not in out.lower() and "<AssumeRoleWithWebIdentityResponse" not in out
    # Our own DEBUG lines say what was called and how it answered.
    assert "aws sts AssumeRoleWithWebIdentity -> 200" in out
    assert "aws ec2 RunInstances -> 200" in out
    assert "bitbucket -> POST" in out and "bitbucket <- POST" in out


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop", "handled": True},  # the runner was registered; its answer never arrived
        {"kind": "status", "status": 502, "handled": True},  # a proxy answered 502 after Bitbucket did the work
    ],
    ids=["answer-lost", "502-after-it-landed"],
)
def test_a_lost_registration_answer_leaves_exactly_one_runner_online(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, vm: VmStandIn, fault: dict[str, Any]
) -> None:
    bitbucket.add_fault(method="POST", path=CREATE, times=1, **fault)
    proc = run_pipe(env)
    assert proc.returncode == 0, everything(proc)
    [runner] = runners(bitbucket)  # the first registration (secret lost) was found by name and deleted
    [instance] = our_instances(ec2)
    assert vm.booted[instance["InstanceId"]].online
    assert runner.oauth_client_secret == vm.booted[instance["InstanceId"]].runner_env["OAUTH_CLIENT_SECRET"]


HTML = {"kind": "body", "status": 200, "content_type": "text/html"}
MALFORMED: dict[str, tuple[dict[str, Any], str, str]] = {
    "create answers without a uuid": ({"kind": "strip", "strip": ["uuid"], "handled": True}, "POST", CREATE),
    "create answers HTML": ({**HTML, "body": "<html><body>Bad gateway</body></html>", "handled": True}, "POST", CREATE),
    "create answers a JSON list": ({"kind": "body", "status": 200, "body": "[]", "handled": True}, "POST", CREATE),
    "create answers an empty 200": ({"kind": "body", "status": 200, "body": "", "handled": True}, "POST", CREATE),
    "the wait answers HTML": ({**HTML, "body": "<!DOCTYPE html><title>Down</title>", "times": None}, "GET", ONE_RUNNER),
    "the wait answers a list": (
        {"kind": "body", "status": 200, "body": '[{"a": 1}]', "times": None},
        "GET",
        ONE_RUNNER,
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_a_malformed_bitbucket_answer_is_one_line_naming_the_call_and_rolls_back(
    env: dict[str, str], ec2: Any, bitbucket: FakeBitbucket, case: str
) -> None:
    fault, method, path = MALFORMED[case]
    bitbucket.add_fault(method=method, path=path, **fault)
    proc = run_pipe(env)
    out = everything(proc)
    assert proc.returncode == 1, out
    line = failure_line(proc)
    assert f"Bitbucket API {method} /repositories/acme/ml-seeds/pipelines-config/runners" in line, line
    assert "internal error" not in out and "Traceback" not in out
    bitbucket.clear_faults()
    assert_nothing_left(ec2, bitbucket)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BITBUCKET_ACCESS_TOKEN", "bb-token-first-half\nX-Evil: second-half-of-it"),
        ("BITBUCKET_ACCESS_TOKEN", " bb-token-with-a-leading-space"),
        ("BITBUCKET_ACCESS_TOKEN", "bb-token\twith-a-tab"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-first-half\r\naws-secret-second-half"),
        ("AWS_SESSION_TOKEN", "aws-session token-with-a-space"),
        ("ATLASSIAN_API_TOKEN", "atlassian-token\x1bwith-an-escape"),
        ("AZURE_CLIENT_SECRET", "azure-secret\x7fwith-a-delete"),
    ],
)
def test_a_token_with_whitespace_or_control_characters_is_refused_without_showing_it(
    env: dict[str, str], bitbucket: FakeBitbucket, ec2: Any, variable: str, value: str
) -> None:
    extra = {"ATLASSIAN_ACCOUNT_EMAIL": "cml-bot@example.com"} if variable == "ATLASSIAN_API_TOKEN" else {}
    proc = run_pipe({**env, **extra, variable: value, "DEBUG": "true"})
    out = everything(proc)
    lines = output_lines(proc)
    assert proc.returncode == 1, out
    assert lines[-1].startswith(f"✖ {variable}:") and "<hidden>" in lines[-1], lines
    for part in re.split(r"[\s\x00-\x1f\x7f]+", value):
        if len(part) >= 4:
            assert part not in out
    assert bitbucket.request_count() == 0
    assert_nothing_left(ec2, bitbucket)

"""Hostile input from the user (issue 13): endpoint overrides, metrics files built to exhaust the pipe, and the
masking rules that keep credentials out of the output.

Process tests run the real entry point; the masking rule is also checked directly, at every byte offset.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import output_lines, run_pipe, run_pipe_config_only, strip_ansi

from pipe import log as redaction

RUNNER = {"CLOUD": "aws", "DRY_RUN": "true"}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BITBUCKET_API_URL", "http://api.bitbucket.org/2.0"),
        ("BITBUCKET_API_URL", "http://10.0.0.5/2.0"),
        ("BITBUCKET_API_URL", "http://127.0.0.1.nip.io/2.0"),
        ("BITBUCKET_API_URL", "http://2130706433/2.0"),
        ("BITBUCKET_API_URL", "http://0.0.0.0:8080/2.0"),
        ("BITBUCKET_API_URL", "http://[::ffff:127.0.0.1]:80/2.0"),
        ("BITBUCKET_API_URL", "ftp://127.0.0.1/2.0"),
        ("AWS_ENDPOINT_URL", "http://ec2.example.com"),
        ("AWS_ENDPOINT_URL", "https://user:pass@127.0.0.1:5000"),
        ("AWS_ENDPOINT_URL_STS", "http://sts.attacker.example"),
        ("AWS_ENDPOINT_URL_EC2", "http://192.168.1.10:5000"),
        ("GCP_COMPUTE_ENDPOINT", "http://compute.example.com"),
        ("AZURE_RESOURCE_MANAGER_ENDPOINT", "http://management.example.com"),
        ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
    ],
)
def test_plain_http_is_refused_for_any_host_but_loopback(variable: str, value: str) -> None:
    proc = run_pipe_config_only({**RUNNER, variable: value})
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith(f"✖ {variable}:"), lines


@pytest.mark.parametrize(
    "variables",
    [
        {"BITBUCKET_API_URL": "http://127.0.0.2:9/2.0"},
        {"BITBUCKET_API_URL": "http://localhost:9/2.0"},
        {"BITBUCKET_API_URL": "http://[::1]:9/2.0"},
        {"BITBUCKET_API_URL": "https://bitbucket.example.com/rest/2.0"},
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_STS": "http://localhost:5001"},
        {"AWS_ENDPOINT_URL": "https://ec2.us-west-1.amazonaws.com"},
    ],
)
def test_loopback_http_and_any_https_endpoint_are_accepted(variables: dict[str, str]) -> None:
    proc = run_pipe_config_only({**RUNNER, **variables})
    assert proc.returncode == 0, output_lines(proc)


@pytest.mark.parametrize(
    "variables",
    [
        {},  # no endpoint is overridden: the real Azure keeps the system's CAs
        {"AZURE_RESOURCE_MANAGER_ENDPOINT": "https://management.example.com"},
        {"AZURE_AUTHORITY_HOST": "login.example.com"},
        {"AZURE_RESOURCE_MANAGER_ENDPOINT": "https://127.0.0.1:8443", "AZURE_AUTHORITY_HOST": "https://evil.example"},
    ],
)
def test_azure_ca_bundle_is_only_for_overridden_loopback_endpoints(tmp_path: Path, variables: dict[str, str]) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    proc = run_pipe_config_only({**RUNNER, "CLOUD": "azure", "AZURE_CA_BUNDLE": str(bundle), **variables})
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("✖ AZURE_CA_BUNDLE:"), lines

    loopback = {"AZURE_RESOURCE_MANAGER_ENDPOINT": "https://127.0.0.1:8443", "AZURE_AUTHORITY_HOST": "127.0.0.1:8443"}
    proc = run_pipe_config_only({**RUNNER, "CLOUD": "azure", "AZURE_CA_BUNDLE": str(bundle), **loopback})
    assert proc.returncode == 0, output_lines(proc)


# --- METRICS_FILE built to exhaust the pipe: one line naming it, before any API call

ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
HOSTILE_METRICS = {
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "deep-object.json": '{"a":' * 3000 + "1" + "}" * 3000,
    "self.yaml": "a: &x [1, *x]\n",
    "self-map.yaml": "&m {loss: 0.1, again: *m}\n",
    "bomb.yaml": ALIAS_BOMB,
    "digits.json": '{"steps": ' + "9" * 5000 + "}",
    "digits.yaml": "steps: " + "9" * 5000 + "\n",
    "digits.txt": "steps = " + "9" * 5000 + "\n",
    "percent.json": '{"accuracy": "' + "9" * 400 + '%"}',
    "percent.yaml": "accuracy: " + "9" * 400 + "%\n",
    "overflow.json": '{"loss": 1e999}',
}


@pytest.mark.parametrize("name", list(HOSTILE_METRICS), ids=list(HOSTILE_METRICS))
@pytest.mark.parametrize("command", ["report", "pr"])
def test_a_hostile_metrics_file_is_one_line_before_any_api_call(
    bitbucket: FakeBitbucket, tmp_path: Path, name: str, command: str
) -> None:
    (tmp_path / "report.md").write_text("# Report\n")
    (tmp_path / "model.bin").write_bytes(b"m")
    (tmp_path / name).write_text(HOSTILE_METRICS[name])
    env = {**bitbucket.pipeline_env(), "COMMAND": command, "REPORT_FILE": "report.md", "METRICS_FILE": name}
    if command == "pr":
        env["FILES"] = "model.bin"
    proc = run_pipe(env, cwd=tmp_path, timeout=120)
    lines = output_lines(proc)
    everything = strip_ansi(proc.stdout + proc.stderr)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("✖ METRICS_FILE:"), lines
    assert "internal error" not in everything and "Traceback" not in everything
    assert bitbucket.request_count() == 0  # nothing posted, no PR opened


def test_non_finite_metrics_written_by_json_dump_are_reported_as_text(bitbucket: FakeBitbucket, tmp_path: Path) -> None:
    """Python's json.dump writes NaN for a diverged loss: that run's report is the one most worth reading."""
    (tmp_path / "report.md").write_text("# Report\n")
    (tmp_path / "metrics.json").write_text('{"loss": NaN, "accuracy": 0.1}')
    env = {**bitbucket.pipeline_env(), "COMMAND": "report", "REPORT_FILE": "report.md", "METRICS_FILE": "metrics.json",
           "TARGET": "commit"}  # fmt: skip
    proc = run_pipe(env, cwd=tmp_path)
    assert proc.returncode == 0, output_lines(proc)
    with bitbucket.lock:
        [report] = bitbucket.repo().reports.values()
    loss = next(d for d in report["data"] if d["title"] == "loss")
    assert (loss["type"], loss["value"]) == ("TEXT", "nan")


# --- masking: every base64 alignment of every secret


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
def test_a_secret_inside_base64_is_masked_at_every_byte_offset(offset: int) -> None:
    secret = "oauth-client-secret-Qz81-xyz"
    redaction.forget_secrets()
    try:
        redaction.register_secret(secret)
        blob = os.urandom(offset) + f"OAUTH_CLIENT_SECRET={secret}\n".encode() + os.urandom(7)
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            shown = redaction.redact(encode(blob).decode())
            assert redaction.MASK in shown
            for k in range(3):  # whichever alignment the secret has in the blob, its encoding is gone
                window = base64.b64encode(b"\0" * k + secret.encode()).decode()[4:14]
                assert window not in shown and window.replace("+", "-").replace("/", "_") not in shown
    finally:
        redaction.forget_secrets()

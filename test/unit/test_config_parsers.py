"""The text -> value parsers and the settings they build, in-process."""

from __future__ import annotations

import base64

import pytest

from pipe import log as redaction
from pipe.config import common, runner
from pipe.config.parsers import (
    decode_startup_script,
    parse_bool,
    parse_duration,
    parse_labels,
    parse_metadata,
)
from pipe.config.variables import ConfigError

BASE = {"BITBUCKET_WORKSPACE": "ws", "BITBUCKET_REPO_SLUG": "repo", "BITBUCKET_ACCESS_TOKEN": "tok-123456"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300", 300),
        ("30s", 30),
        ("30min", 1800),
        ("5m", 300),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("5 minutes", 300),
        ("2H", 7200),
        ("1d", 86400),
        ("", 300),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration("IDLE_TIMEOUT", text, default="5min", allow_never=True, max_s=30 * 86400) == seconds


@pytest.mark.parametrize("text", ["never", "NEVER", "-1", "0"])
def test_never_and_cml_disabling_values(text: str) -> None:
    assert parse_duration("IDLE_TIMEOUT", text, default="5min", allow_never=True, max_s=86400) is None


@pytest.mark.parametrize("text", ["5 parsecs", "-5m", "m5", "1.5h", "h", "5m-", "never", "0s", "31d", "%x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^MAX_LIFETIME: "):
        parse_duration("MAX_LIFETIME", text, default="12h", allow_never=False, max_s=30 * 86400)


def test_bools() -> None:
    assert parse_bool("X", "TRUE") is True
    assert parse_bool("X", "no") is False
    assert parse_bool("X", "", default=True) is True
    with pytest.raises(ConfigError, match="use true or false"):
        parse_bool("X", "maybe")


def test_labels_always_include_self_hosted_and_linux_first_and_deduplicate() -> None:
    assert parse_labels("LABELS", "", "cml.runner") == ("self.hosted", "linux", "cml.runner")
    assert parse_labels("LABELS", " gpu , cml.runner,gpu,linux,", "x") == ("self.hosted", "linux", "gpu", "cml.runner")


@pytest.mark.parametrize(
    "text",
    [
        "GPU", "a b", "{x}", "'q'", "a" * 51, ",", "windows", "linux.shell", "naïve",
        # Bitbucket's runner label rule: dot-separated lowercase letters and digits, no reserved prefix
        "cml-gpu", "cml_gpu", ".gpu", "gpu.", "cml..gpu", "linux.arm64", "bitbucket.x", "atlassian.gpu",
    ],
)  # fmt: skip
def test_bad_labels(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^LABELS: "):
        parse_labels("LABELS", text, "cml.runner")


@pytest.mark.parametrize("text", ["cml.gpu", "gpu", "a100", "team.ml.v2", "x" * 50, "linux", "self.hosted"])
def test_labels_bitbucket_accepts(text: str) -> None:
    assert text in parse_labels("LABELS", text, "cml.runner")


def test_at_most_ten_custom_labels_counting_the_pipes_own() -> None:
    nine = ",".join(f"l{i}" for i in range(9))
    assert len(parse_labels("LABELS", nine, "x", pipe_labels=1)) == 2 + 9
    assert len(parse_labels("LABELS", nine + ",l8,linux,self.hosted", "x", pipe_labels=1)) == 2 + 9  # repeats
    with pytest.raises(ConfigError, match=r"at most 9 labels .*pipe adds 1 of its own\); 10 given"):
        parse_labels("LABELS", nine + ",l9", "x", pipe_labels=1)
    assert len(parse_labels("LABELS", nine + ",l9", "x")) == 2 + 10


def test_metadata_commas_newlines_and_equals_in_values() -> None:
    text = "team=ml, owner = me@example.com\nquery=a=b\n\n"
    assert parse_metadata("CLOUD_METADATA", text, "cml-") == {"team": "ml", "owner": "me@example.com", "query": "a=b"}
    assert parse_metadata("CLOUD_METADATA", "", "cml-") == {}


@pytest.mark.parametrize("text", ["team", "=x", "cml-runner-uuid=1", "bad key=1", "k=\x07"])
def test_bad_metadata(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^CLOUD_METADATA: "):
        parse_metadata("CLOUD_METADATA", text, "cml-")


def test_startup_script_base64_is_decoded_like_cml() -> None:
    script = "#!/bin/bash\napt-get install -y htop\n"
    encoded = base64.b64encode(script.encode()).decode()
    assert decode_startup_script("S", encoded, 8192) == script
    # `base64` wraps its output at 76 columns.
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert decode_startup_script("S", wrapped, 8192) == script


@pytest.mark.parametrize("script", ["echo hello", "true", "abcd", "pip install torch==2.3\n", "ls\n"])
def test_startup_script_plain_text_stays_text(script: str) -> None:
    assert decode_startup_script("S", script, 8192) == script


def test_startup_script_limits() -> None:
    with pytest.raises(ConfigError, match="at most 10 bytes"):
        decode_startup_script("S", "echo 12345678901", 10)
    with pytest.raises(ConfigError, match="NUL"):
        decode_startup_script("S", "echo\x00", 100)


def test_runner_defaults() -> None:
    settings = runner.load({"CLOUD": "aws"})
    assert settings.region == "us-west"
    assert settings.instance_type == "m"
    assert settings.gpu == ""
    assert settings.hdd_size_gb is None  # the default: 35, or the image's size if larger
    assert settings.idle_timeout_s == 300
    assert settings.max_lifetime_s == 12 * 3600
    assert settings.wait_timeout_s == 600
    assert settings.labels == ("self.hosted", "linux", "cml.runner")
    assert settings.runner_scope == "repository"
    assert settings.spot_price is None
    assert settings.name.startswith("cml-") and len(settings.name) == 14


def test_runner_values() -> None:
    settings = runner.load(
        {
            "CLOUD": "AWS",
            "CLOUD_REGION": "US-EAST-1",
            "CLOUD_GPU": "tesla",
            "CLOUD_SPOT": "true",
            "CLOUD_SPOT_PRICE": "0.75",
            "CLOUD_PERMISSION_SET": "arn:aws:iam::123456789012:instance-profile/cml",
            "IDLE_TIMEOUT": "-1",
            "RUNNER_SCOPE": "workspace",
            "AWS_OIDC_ROLE_ARN": "arn:aws:iam::123456789012:role/cml-runner",
        }
    )
    assert (settings.cloud, settings.region, settings.gpu) == ("aws", "us-east-1", "v100")
    assert settings.spot and settings.spot_price == 0.75
    assert settings.idle_timeout_s is None
    assert settings.runner_scope == "workspace"


def test_spot_price_minus_one_means_on_demand_even_on_gcp() -> None:
    assert runner.load({"CLOUD": "gcp", "CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "-1"}).spot_price is None


def test_gpu_none_values() -> None:
    assert runner.load({"CLOUD": "aws", "CLOUD_GPU": "nogpu"}).gpu == ""


def test_conflicts_name_both_variables() -> None:
    with pytest.raises(ConfigError, match=r"^REUSE and SINGLE cannot both be set"):
        runner.load({"CLOUD": "aws", "REUSE": "true", "SINGLE": "true"})


def test_access_token_auth_and_context() -> None:
    settings = common.load({**BASE, "BITBUCKET_PR_ID": "7", "BITBUCKET_COMMIT": "ABCDEF1", "DEBUG": "true"})
    assert settings.auth.kind == "bearer" and settings.auth.access_token == "tok-123456"
    assert "tok-123456" not in repr(settings)
    assert settings.pr_id == 7 and settings.commit == "abcdef1" and settings.debug
    assert settings.api_url == "https://api.bitbucket.org/2.0"
    assert settings.command == "runner"


def test_basic_auth_and_app_password_alongside_a_token_warns() -> None:
    env = {**BASE, "BITBUCKET_ACCESS_TOKEN": "", "ATLASSIAN_ACCOUNT_EMAIL": "me@example.com"}
    settings = common.load({**env, "ATLASSIAN_API_TOKEN": "api-tok-1", "BITBUCKET_APP_PASSWORD": "old-pass"})
    assert settings.auth.kind == "basic" and settings.auth.email == "me@example.com"
    assert settings.warnings and "BITBUCKET_APP_PASSWORD" in settings.warnings[0]


def test_config_error_is_one_line_and_truncates_long_values() -> None:
    err = ConfigError("X", "line1\nline2" + "y" * 500, "allowed\ntext")
    assert "\n" not in str(err)
    assert "(511 characters)" in str(err)
    assert "<hidden>" in str(ConfigError("T", "s3cret", "no", secret=True))


def test_redact_masks_registered_secrets_and_their_encodings() -> None:
    redaction.forget_secrets()
    try:
        redaction.register_secret("pa ss/word+1")
        redaction.register_secret("abc")  # too short to mask safely: ignored
        text = "a pa ss/word+1 b pa%20ss%2Fword%2B1 c " + base64.b64encode(b"pa ss/word+1").decode() + " abc"
        assert redaction.redact(text).count(redaction.MASK) == 3
        assert redaction.redact(text).endswith(" abc")
    finally:
        redaction.forget_secrets()

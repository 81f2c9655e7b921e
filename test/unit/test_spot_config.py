"""Spot recovery's variables: parsed once (pipe/config/spot.py), bad input is one line naming the variable."""

from __future__ import annotations

import pytest

from pipe.config import runner as runner_config
from pipe.config import spot
from pipe.config.variables import ConfigError

BASE = {"CLOUD": "aws", "CLOUD_SPOT": "true", "SPOT_RECOVERY": "true", "CHECKPOINT_PATH": "checkpoints/"}


def test_defaults_on_aws_use_our_bucket_two_attempts_and_five_minutes() -> None:
    recovery = runner_config.load(BASE).recovery
    assert recovery == spot.SpotRecovery(checkpoint_path="checkpoints", store=None, attempts=2, interval_s=300)


def test_off_by_default_and_nothing_planned() -> None:
    assert runner_config.load({"CLOUD": "aws"}).recovery is None


def test_all_variables_given() -> None:
    env = {**BASE, "CHECKPOINT_STORE": "s3://my-bucket/ml/run", "SPOT_ATTEMPTS": "3", "CHECKPOINT_INTERVAL": "90s"}
    recovery = runner_config.load(env).recovery
    assert recovery is not None
    assert recovery.store == spot.StoreUrl("aws", "my-bucket", "ml/run")
    assert (recovery.attempts, recovery.interval_s) == (3, 90)
    assert str(recovery.store) == "s3://my-bucket/ml/run"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3://bucket-1", spot.StoreUrl("aws", "bucket-1", "")),
        ("gs://my_bucket/a/b/", spot.StoreUrl("gcp", "my_bucket", "a/b")),
        ("az://acct123/ckpts/x", spot.StoreUrl("azure", "ckpts", "x", "acct123")),
    ],
)
def test_store_urls(value: str, expected: spot.StoreUrl) -> None:
    assert spot.parse_store("CHECKPOINT_STORE", value) == expected


@pytest.mark.parametrize(
    "value",
    ["http://bucket/x", "s3://", "s3://Bad_Bucket", "s3://ab", "s3://bucket/../x", "gs://b/a\nb", "az://container",
     "az://Acct/ckpts", "az://acct/a--b", "s3://bucket/a b", "s3://bucket/./x", "s3://bucket/$(reboot)", "s3://bucket/a;b"],
)
def test_bad_store_urls_are_one_line(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        spot.parse_store("CHECKPOINT_STORE", value)
    assert str(err.value).startswith("CHECKPOINT_STORE") and "\n" not in str(err.value)


@pytest.mark.parametrize("value", ["/abs/ckpt", "..", "../up", "a/../../up", ".", ".git/x", "a/.GIT", "git~1/x"])
def test_checkpoint_path_must_be_a_folder_inside_the_clone(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^CHECKPOINT_PATH: .* is not valid; "):
        runner_config.load({**BASE, "CHECKPOINT_PATH": value})


def test_checkpoint_path_is_normalised() -> None:
    assert spot.parse_checkpoint_path("CHECKPOINT_PATH", "out/./ckpt/") == "out/ckpt"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLOUD_SPOT": "false"}, "SPOT_RECOVERY needs CLOUD_SPOT: 'true'"),
        ({"CHECKPOINT_PATH": ""}, "CHECKPOINT_PATH is required"),
        ({"SPOT_ATTEMPTS": "0"}, "SPOT_ATTEMPTS: '0' is not valid; a whole number from 1 to 10"),
        ({"SPOT_ATTEMPTS": "11"}, "SPOT_ATTEMPTS: '11' is not valid"),
        ({"SPOT_ATTEMPTS": "two"}, "SPOT_ATTEMPTS: 'two' is not valid"),
        ({"CHECKPOINT_INTERVAL": "10s"}, "CHECKPOINT_INTERVAL: '10s' is not valid; at least 30s"),
        ({"CHECKPOINT_INTERVAL": "never"}, "CHECKPOINT_INTERVAL: 'never' is not valid"),
        ({"SPOT_RECOVERY": "maybe"}, "SPOT_RECOVERY: 'maybe' is not valid; use true or false"),
        ({"CHECKPOINT_STORE": "gs://bucket/x"}, "CHECKPOINT_STORE: 'gs://bucket/x' is not valid; with CLOUD: 'aws'"),
        ({"CLOUD": "gcp"}, "SPOT_RECOVERY is not available with CLOUD: 'gcp' in this version"),
        ({"CLOUD": "azure", "CHECKPOINT_STORE": "az://acct/ckpts"}, "SPOT_RECOVERY is not available with CLOUD: 'az"),
        ({"SPOT_RECOVERY": "false"}, "CHECKPOINT_PATH is set but SPOT_RECOVERY is not 'true'"),
    ],
)
def test_bad_combinations_are_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        runner_config.load({**BASE, **env})
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_kubernetes_refuses_it() -> None:
    with pytest.raises(ConfigError, match="SPOT_RECOVERY has no meaning with CLOUD: 'kubernetes'"):
        spot.load_recovery({"SPOT_RECOVERY": "true"}, spot=False, cloud="kubernetes")


def test_restore_settings() -> None:
    assert spot.load({"CHECKPOINT_PATH": "ckpt"}) == spot.RestoreSettings("ckpt", None, "aws")
    settings = spot.load({"CHECKPOINT_PATH": "ckpt", "CHECKPOINT_STORE": "gs://b1b/p"})
    assert settings.cloud == "gcp" and settings.store == spot.StoreUrl("gcp", "b1b", "p")
    with pytest.raises(ConfigError, match=r"^CHECKPOINT_STORE is required: on CLOUD: 'azure'"):
        spot.load({"CHECKPOINT_PATH": "ckpt", "CLOUD": "azure"})
    with pytest.raises(ConfigError, match=r"^CHECKPOINT_PATH is required"):
        spot.load({})


def test_the_variables_are_declared_for_the_readme() -> None:
    from pipe.config import all_variables

    names = {v.name for v in all_variables()}
    assert {"SPOT_RECOVERY", "CHECKPOINT_PATH", "CHECKPOINT_STORE", "SPOT_ATTEMPTS", "CHECKPOINT_INTERVAL"} <= names

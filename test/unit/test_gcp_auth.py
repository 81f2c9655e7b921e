"""GCP credentials from the step's variables: key JSON, key file, OIDC workload identity. No network."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from pipe.config.clouds import CloudCredentials
from pipe.providers.base import ProviderError
from pipe.providers.gcp.credentials import (
    CLOUD_PLATFORM_SCOPE,
    MISSING_CREDENTIALS,
    STS_TOKEN_URL,
    gcp_credentials,
)

WIF = "projects/123456789012/locations/global/workloadIdentityPools/bitbucket/providers/my-workspace"
SA = "cml-runner@ml-proj-42.iam.gserviceaccount.com"
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ7c3RlcH0ifQ.c2lnbmF0dXJl"


@pytest.fixture(scope="module")
def key_info() -> dict[str, Any]:
    """A service-account key with a freshly generated (throwaway) RSA private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "key-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "deployer@key-project.iam.gserviceaccount.com",
        "client_id": "109876543210987654321",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def test_key_json_as_secured_variable(key_info: dict[str, Any]) -> None:
    found = gcp_credentials(CloudCredentials({"GCP_CREDENTIALS": json.dumps(key_info)}))

    assert found.source == "GCP_CREDENTIALS" and found.project == "key-project"
    assert found.credentials.service_account_email == "deployer@key-project.iam.gserviceaccount.com"
    assert found.credentials.scopes == [CLOUD_PLATFORM_SCOPE]
    assert found.credentials.token is None  # nothing fetched yet: building made no request


def test_key_json_base64_under_the_google_name(key_info: dict[str, Any]) -> None:
    encoded = base64.b64encode(json.dumps(key_info).encode()).decode()

    found = gcp_credentials(CloudCredentials({"GOOGLE_CREDENTIALS": encoded}))

    assert found.source == "GOOGLE_CREDENTIALS" and found.project == "key-project"


def test_key_file_path(key_info: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_info))

    found = gcp_credentials(CloudCredentials({"GOOGLE_APPLICATION_CREDENTIALS": str(path)}))

    assert found.source == "GOOGLE_APPLICATION_CREDENTIALS"
    assert found.credentials.service_account_email == key_info["client_email"]


def test_secured_variable_wins_over_key_file(key_info: dict[str, Any]) -> None:
    env = {"GCP_CREDENTIALS": json.dumps(key_info), "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"}

    assert gcp_credentials(CloudCredentials(env)).source == "GCP_CREDENTIALS"


def test_oidc_workload_identity_federation_builds_without_network() -> None:
    env = {"GCP_WORKLOAD_IDENTITY_PROVIDER": WIF, "GCP_SERVICE_ACCOUNT": SA, "BITBUCKET_STEP_OIDC_TOKEN": OIDC_TOKEN}

    found = gcp_credentials(CloudCredentials(env))

    creds = found.credentials
    from google.auth import identity_pool

    assert isinstance(creds, identity_pool.Credentials)
    assert creds.info["audience"] == f"//iam.googleapis.com/{WIF}"
    assert creds.info["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    assert creds.info["token_url"] == STS_TOKEN_URL
    assert creds.service_account_email == SA
    assert creds.retrieve_subject_token(None) == OIDC_TOKEN  # from memory: no file, no request
    assert creds.token is None
    assert found.project == "ml-proj-42"  # from the service account's email
    assert OIDC_TOKEN not in repr(creds)


def test_oidc_without_impersonation_and_with_full_audience() -> None:
    env = {"GCP_WORKLOAD_IDENTITY_PROVIDER": f"//iam.googleapis.com/{WIF}", "BITBUCKET_STEP_OIDC_TOKEN": OIDC_TOKEN}

    creds = gcp_credentials(CloudCredentials(env)).credentials

    assert creds.info["audience"] == f"//iam.googleapis.com/{WIF}"
    assert "service_account_impersonation_url" not in creds.info


def test_oidc_without_the_step_token_says_add_oidc_true() -> None:
    with pytest.raises(ProviderError, match="add `oidc: true` to the step"):
        gcp_credentials(CloudCredentials({"GCP_WORKLOAD_IDENTITY_PROVIDER": WIF, "GCP_SERVICE_ACCOUNT": SA}))


def test_malformed_provider_is_explained() -> None:
    env = {"GCP_WORKLOAD_IDENTITY_PROVIDER": "my-pool", "BITBUCKET_STEP_OIDC_TOKEN": OIDC_TOKEN}

    with pytest.raises(ProviderError, match="workloadIdentityPools/POOL/providers/PROVIDER"):
        gcp_credentials(CloudCredentials(env))


def test_no_credentials_is_one_line_naming_the_variables() -> None:
    with pytest.raises(ProviderError) as caught:
        gcp_credentials(CloudCredentials({}))

    assert str(caught.value) == MISSING_CREDENTIALS and "\n" not in MISSING_CREDENTIALS


@pytest.mark.parametrize(
    "secret",
    [
        "not json and not base64 !!",
        base64.b64encode(b"still not json: s3cr3t-value").decode(),
        json.dumps({"private_key": "s3cr3t-value"}),
        json.dumps({"type": "service_account", "private_key": "s3cr3t-value", "client_email": "x@y"}),
    ],
)
def test_broken_keys_are_explained_without_echoing_them(secret: str) -> None:
    with pytest.raises(ProviderError) as caught:
        gcp_credentials(CloudCredentials({"GCP_CREDENTIALS": secret}))

    assert "GCP_CREDENTIALS" in str(caught.value)
    assert "s3cr3t" not in str(caught.value) and secret not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_executable_credential_configs_are_refused() -> None:
    config = {"type": "external_account", "audience": "//iam.googleapis.com/x", "subject_token_type": "jwt",
              "token_url": STS_TOKEN_URL, "credential_source": {"executable": {"command": "/bin/evil"}}}  # fmt: skip

    with pytest.raises(ProviderError, match="not supported"):
        gcp_credentials(CloudCredentials({"GCP_CREDENTIALS": json.dumps(config)}))


def test_workload_identity_config_file_is_accepted(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    config = {"type": "external_account", "audience": f"//iam.googleapis.com/{WIF}",
              "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": STS_TOKEN_URL,
              "credential_source": {"file": str(token_file)}}  # fmt: skip
    path = tmp_path / "wif.json"
    path.write_text(json.dumps(config))

    found = gcp_credentials(CloudCredentials({"GOOGLE_APPLICATION_CREDENTIALS": str(path)}))

    assert found.credentials.info["audience"] == f"//iam.googleapis.com/{WIF}"


def test_unreadable_key_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="GOOGLE_APPLICATION_CREDENTIALS: cannot read"):
        gcp_credentials(CloudCredentials({"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing.json")}))


def test_built_from_variables_uses_the_key_project_unless_gcp_project_is_set(key_info: dict[str, Any]) -> None:
    from cloud_options import provider_from_env

    key = json.dumps(key_info)
    assert provider_from_env("gcp", "us-west1", {"GCP_CREDENTIALS": key}).project == "key-project"
    assert provider_from_env("gcp", "us-west1", {"GCP_CREDENTIALS": key, "GCP_PROJECT": "runners"}).project == "runners"
    google_named = {"GCP_CREDENTIALS": key, "GOOGLE_CLOUD_PROJECT": "gp-proj"}
    assert provider_from_env("gcp", "us-west1", google_named).project == "gp-proj"


def test_built_from_variables_oidc_without_a_project_anywhere_asks_for_gcp_project() -> None:
    from cloud_options import provider_from_env

    env = {"GCP_WORKLOAD_IDENTITY_PROVIDER": WIF, "BITBUCKET_STEP_OIDC_TOKEN": OIDC_TOKEN}
    with pytest.raises(ProviderError, match="set GCP_PROJECT"):
        provider_from_env("gcp", "us-west1", env)

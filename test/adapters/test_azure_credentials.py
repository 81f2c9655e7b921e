"""Azure credentials from the step's variables, through the production credential code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from azure.identity import ClientAssertionCredential, ClientSecretCredential
from cloud_options import provider_from_env
from fakes.azure import FakeAzure
from fakes.azure.schema import check
from fixtures_azure import AZURE_REGION, AZURE_TEST_CLIENT_KWARGS

from pipe.config.variables import ConfigError
from pipe.providers.azure.lifecycle import AzureProvider
from pipe.providers.base import ProviderError

ROOT = Path(__file__).resolve().parents[2]


def oidc_env(fake: FakeAzure) -> dict[str, str]:
    env = {k: v for k, v in fake.env().items() if k != "AZURE_CLIENT_SECRET"}
    return env | {"BITBUCKET_STEP_OIDC_TOKEN": fake.oidc_token}


def test_service_principal_signs_in_with_its_secret(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    assert isinstance(azure_provider._credential, ClientSecretCredential)
    assert azure_provider.list_ours() == []
    assert azure_fake.sign_ins == ["client_secret"]
    token_request = next(r for r in azure_fake.requests if r.path.endswith("/oauth2/v2.0/token"))
    assert token_request.body["client_id"] == azure_fake.client_id


def test_oidc_presents_the_step_token(azure_fake: FakeAzure) -> None:
    provider = provider_from_env("azure", AZURE_REGION, oidc_env(azure_fake), **AZURE_TEST_CLIENT_KWARGS)
    assert isinstance(provider._credential, ClientAssertionCredential)
    assert provider.list_ours() == []
    assert azure_fake.sign_ins == ["client_assertion"]


def test_a_wrong_oidc_token_is_a_clear_error(azure_fake: FakeAzure) -> None:
    env = oidc_env(azure_fake) | {"BITBUCKET_STEP_OIDC_TOKEN": "not.the.token"}
    with pytest.raises(ProviderError, match="federated credential") as err:
        provider_from_env("azure", AZURE_REGION, env, **AZURE_TEST_CLIENT_KWARGS).list_ours()
    assert "not.the.token" not in str(err.value)


def test_a_wrong_secret_is_a_clear_error_without_the_secret(azure_fake: FakeAzure) -> None:
    env = azure_fake.env() | {"AZURE_CLIENT_SECRET": "wrong-secret-value"}
    with pytest.raises(ProviderError, match="AZURE_CLIENT_SECRET") as err:
        provider_from_env("azure", AZURE_REGION, env, **AZURE_TEST_CLIENT_KWARGS).list_ours()
    assert "wrong-secret-value" not in str(err.value)
    assert azure_fake.sign_ins == []


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        (("AZURE_CLIENT_SECRET",), "AZURE_CLIENT_SECRET"),
        (("AZURE_SUBSCRIPTION_ID",), "AZURE_SUBSCRIPTION_ID"),
        (("AZURE_TENANT_ID", "AZURE_CLIENT_ID"), "AZURE_TENANT_ID, AZURE_CLIENT_ID"),
    ],
)
def test_missing_credentials_name_the_variables(drop: tuple[str, ...], named: str) -> None:
    env = {"AZURE_SUBSCRIPTION_ID": "s", "AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "x"}
    with pytest.raises(ProviderError, match=f"missing: set {named}") as err:
        provider_from_env("azure", AZURE_REGION, {k: v for k, v in env.items() if k not in drop})
    assert "\n" not in str(err.value)
    assert "'x'" not in str(err.value)


def test_no_credentials_at_all() -> None:
    with pytest.raises(ProviderError, match="AZURE_SUBSCRIPTION_ID, AZURE_TENANT_ID, AZURE_CLIENT_ID"):
        provider_from_env("azure", AZURE_REGION, {})


def test_bad_public_ip_flag_is_refused_with_the_variables(azure_fake: FakeAzure) -> None:
    """Parsed once, in pipe/config/clouds.py, by the same rule as every boolean (it was the adapter's own)."""
    with pytest.raises(ConfigError, match=r"^AZURE_PUBLIC_IP: 'maybe' is not valid; use true or false$"):
        provider_from_env("azure", AZURE_REGION, azure_fake.env() | {"AZURE_PUBLIC_IP": "maybe"})


def test_wrong_subscription_is_a_clear_error(azure_fake: FakeAzure) -> None:
    env = azure_fake.env() | {"AZURE_SUBSCRIPTION_ID": "99999999-0000-0000-0000-000000000000"}
    with pytest.raises(ProviderError, match="check AZURE_SUBSCRIPTION_ID"):
        provider_from_env("azure", AZURE_REGION, env, **AZURE_TEST_CLIENT_KWARGS).list_ours()


def test_the_azure_sdk_is_imported_only_on_the_azure_path() -> None:
    code = (
        "import importlib.util, sys\n"
        "import pipe.providers, pipe.providers.base\n"
        "for extra in ('pipe.providers.catalog', 'pipe.providers.factory'):\n"
        "    if importlib.util.find_spec(extra):\n"
        "        importlib.import_module(extra)\n"
        "loaded = sorted(m for m in sys.modules if m == 'azure' or m.startswith(('azure.', 'pipe.providers.azure')))\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_schema_check_catches_made_up_fields() -> None:
    from azure.mgmt.compute import models as cm

    body = {"location": "westus2", "properties": {"hardwareProfile": {"vmSize": "Standard_NC4as_T4_v3"}}}
    assert check(cm.VirtualMachine, body) == []  # VM sizes are an open list
    body["properties"]["priority"] = "Spots"
    body["properties"]["spotMaxPrice"] = 1
    assert check(cm.VirtualMachine, body) == [
        "$.properties.priority: 'Spots' is not one of ['low', 'regular', 'spot', 'spotplus']",
        "$.properties.spotMaxPrice: not a field of VirtualMachineProperties",
    ]


def test_the_server_refuses_a_made_up_field(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.resource.resources import models as rm

    group = rm.ResourceGroup(location=AZURE_REGION)
    group["madeUp"] = True  # the SDK sends unknown keys through unchanged
    with pytest.raises(HttpResponseError, match="madeUp: not a field of ResourceGroup"):
        azure_provider._resources.resource_groups.create_or_update("cml-x", group)
    assert len(azure_fake.violations) == 1
    azure_fake.violations.clear()


def test_the_factory_builds_the_azure_adapter(azure_fake: FakeAzure) -> None:
    from pipe.config.clouds import cloud_credentials
    from pipe.config.runner import load
    from pipe.providers import make_provider

    env = {"CLOUD": "azure", "CLOUD_REGION": AZURE_REGION, **azure_fake.env()}
    provider = make_provider(load(env), cloud_credentials(env, "azure"))
    assert isinstance(provider, AzureProvider) and provider.cloud == "azure" and provider.region == AZURE_REGION
    assert provider.list_ours() == []

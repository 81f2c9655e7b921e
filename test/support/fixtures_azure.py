"""Fixtures for Azure: the local Azure server and adapters pointed at it.

azure_server   one HTTPS server per test session (certificate generated for it)
azure_fake     that server, reset for the test; fails the test if any request or
               response did not fit the Azure SDK's models
azure_env      the variables the Azure adapter needs to reach it (service principal)
azure_provider AzureProvider built from azure_env as the pipe builds it, polling without delay
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fakes.azure import FakeAzure

if TYPE_CHECKING:
    from pipe.providers.azure.lifecycle import AzureProvider

AZURE_REGION = "westus2"
AZURE_TEST_CLIENT_KWARGS: dict[str, Any] = {"polling_interval": 0, "retry_backoff_factor": 0}


@pytest.fixture(scope="session")
def azure_server() -> Iterator[FakeAzure]:
    fake = FakeAzure().start()
    yield fake
    fake.stop()


@pytest.fixture
def azure_fake(azure_server: FakeAzure) -> Iterator[FakeAzure]:
    azure_server.reset()
    azure_server.retry_after = None  # with polling_interval=0 the SDK polls at once
    yield azure_server
    violations = list(azure_server.violations)
    azure_server.reset()
    assert not violations, "requests or responses that do not fit the Azure SDK models:\n" + "\n".join(violations)


@pytest.fixture
def azure_env(azure_fake: FakeAzure) -> dict[str, str]:
    return azure_fake.env()


@pytest.fixture
def azure_provider(azure_env: dict[str, str]) -> AzureProvider:
    from cloud_options import provider_from_env

    provider: AzureProvider = provider_from_env("azure", AZURE_REGION, azure_env, **AZURE_TEST_CLIENT_KWARGS)
    return provider

"""The `cloud` fixture: one emulated cloud per parameter (aws, gcp, azure), for tests that must hold on every
cloud the pipe offers (test_contract_clouds.py, test_sweep_ownership.py). See contract_clouds.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract_clouds import CLOUDS, AwsCloud, AzureCloud, CloudUnderTest, GcpCloud


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Iterator[CloudUnderTest]:
    """One emulated cloud, fresh for the test (servers are shared per session and reset).

    Afterwards, every request the pipe sent must have fitted the cloud's own API description (GCP: the
    discovery document; Azure: the SDK models, checked by the azure_fake fixture itself)."""
    name = request.param
    if name == "aws":
        yield AwsCloud(
            request.getfixturevalue("ec2"), request.getfixturevalue("aws_faults"), request.getfixturevalue("aws_env")
        )
    elif name == "gcp":
        gcp = request.getfixturevalue("fake_gcp")
        yield GcpCloud(gcp, request.getfixturevalue("gcp_env"))
        assert gcp.validation_errors == [], "requests that do not fit Compute's discovery document"
    else:
        azure = request.getfixturevalue("azure_fake")
        azure.retry_after = 1  # the pipe polls at the SDK's default interval: without Retry-After, 30 s per poll
        yield AzureCloud(azure, request.getfixturevalue("azure_provider"), {"CLOUD": "azure", **azure.env()})



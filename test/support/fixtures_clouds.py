"""The `cloud` and `vm_cloud` fixtures: one emulated cloud per parameter, for tests that must hold on every cloud
the pipe offers (test_contract_clouds.py, test_sweep_ownership.py). See contract_clouds.py.

cloud      aws, gcp, azure and kubernetes (CLOUDS)
vm_cloud   only the clouds with zones, spot markets and boot scripts (VM_CLOUDS)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract_clouds import CLOUDS, VM_CLOUDS, AwsCloud, AzureCloud, CloudUnderTest, GcpCloud, KubernetesCloud
from fakes.aws import FakeAws


def _cloud(request: pytest.FixtureRequest) -> Iterator[CloudUnderTest]:
    """One emulated cloud, fresh for the test (servers are shared per session and reset).

    Afterwards, every request the pipe sent must have fitted the cloud's own API description (GCP: the
    discovery document; Azure: the SDK models, checked by the azure_fake fixture itself)."""
    name = request.param
    if name == "aws":
        fake = FakeAws(request.getfixturevalue("ec2"), request.getfixturevalue("aws_faults"))
        yield AwsCloud(fake, request.getfixturevalue("aws_env"))
    elif name == "gcp":
        gcp = request.getfixturevalue("fake_gcp")
        yield GcpCloud(gcp, request.getfixturevalue("gcp_env"))
        assert gcp.validation_errors == [], "requests that do not fit Compute's discovery document"
    elif name == "azure":
        azure = request.getfixturevalue("azure_fake")
        azure.retry_after = 1  # the pipe polls at the SDK's default interval: without Retry-After, 30 s per poll
        yield AzureCloud(azure, request.getfixturevalue("azure_provider"), {"CLOUD": "azure", **azure.env()})
    else:
        kube = request.getfixturevalue("kube")  # fails the test on any request that breaks Kubernetes' schemas
        yield KubernetesCloud(kube, kube.env())


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Iterator[CloudUnderTest]:
    yield from _cloud(request)


@pytest.fixture(params=VM_CLOUDS)
def vm_cloud(request: pytest.FixtureRequest) -> Iterator[CloudUnderTest]:
    """Only the clouds with zones, spot markets and boot scripts."""
    yield from _cloud(request)

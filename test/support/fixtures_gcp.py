"""Fixtures for the GCP adapter: a local Compute Engine stand-in and a provider wired to it.

The compute SDK is imported inside the fixtures, never at import time, so tests of other
clouds do not pay for it (and the lazy-import test stays meaningful).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fakes.gcp import FakeGcp

from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, TAG_REPOSITORY, TAG_RUNNER_UUID, InstanceSpec

if TYPE_CHECKING:
    from pipe.providers.gcp.lifecycle import GcpProvider

GCP_REGION = "us-west1"
GCP_ZONE = "us-west1-b"


@pytest.fixture(scope="session")
def gcp_server() -> Iterator[FakeGcp]:
    """One local Compute Engine server per test session (per xdist worker)."""
    with FakeGcp() as server:
        yield server


@pytest.fixture
def fake_gcp(gcp_server: FakeGcp) -> FakeGcp:
    """The server, reset: default zones, machine types, images; no instances, faults or log."""
    gcp_server.reset()
    return gcp_server


@pytest.fixture
def gcp_env(fake_gcp: FakeGcp) -> dict[str, str]:
    """Pipe variables that point the GCP adapter at the local server (anonymous, REST)."""
    return {"CLOUD": "gcp", "GCP_COMPUTE_ENDPOINT": fake_gcp.url, "GCP_PROJECT": fake_gcp.project}


@pytest.fixture
def gcp_provider(fake_gcp: FakeGcp) -> GcpProvider:
    """A GcpProvider for us-west1 on the local server, with no sleeping between polls or retries."""
    from pipe.providers.gcp.lifecycle import GcpProvider

    return GcpProvider(
        GCP_REGION, project=fake_gcp.project, endpoint=fake_gcp.url, poll_interval_s=0, retry_backoff_s=0
    )


@pytest.fixture
def gcp_spec() -> Callable[..., InstanceSpec]:
    """make(**overrides) -> an InstanceSpec as the flow would pass it (CPU, on-demand, our tags)."""

    def make(**overrides: Any) -> InstanceSpec:
        values: dict[str, Any] = {
            "name": "cml-a1b2c3d4e5",
            "region": GCP_REGION,
            "instance_type": "e2-standard-8",
            "image": "https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/images/"
            "ubuntu-2404-noble-amd64-v20261101",
            "disk_gb": 35,
            "user_data": "#!/bin/bash\necho runner\n",
            "tags": {
                TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
                TAG_RUNNER_UUID: "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
                TAG_REPOSITORY: "acme_ml-repo",
                "cml-expires-at": "1795000000",
            },
        }
        values.update(overrides)
        return InstanceSpec(**values)

    return make

"""Fixtures for Kubernetes: the local API server and the real `kubernetes` client pointed at it.

kube_server   one HTTPS server per test session, on a fake clock (FakeClock) that tests advance
kube          that server, reset for the test; fails the test if a request or a response of the fake broke
              Kubernetes' published schemas (or the API server's checks)
kube_api      a kubernetes ApiClient built from the server's kubeconfig, as a user's client would be

The kubernetes client is imported inside the fixtures, so tests of other clouds never load it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fakes.clock import FakeClock
from fakes.kubernetes import FakeKubernetes

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@pytest.fixture(scope="session")
def kube_server() -> Iterator[FakeKubernetes]:
    with FakeKubernetes(clock=FakeClock(time.time())) as server:
        yield server


@pytest.fixture
def kube(kube_server: FakeKubernetes) -> Iterator[FakeKubernetes]:
    kube_server.reset()
    yield kube_server
    violations = list(kube_server.violations)
    kube_server.reset()
    assert not violations, "requests or responses that break Kubernetes' schemas:\n" + "\n".join(violations)


@pytest.fixture
def kube_api(kube: FakeKubernetes) -> Iterator[ApiClient]:
    from kubernetes import config

    api = config.new_client_from_config_dict(kube.kubeconfig())
    yield api
    api.close()

"""The provider-adapter layer. Each cloud's SDK is imported only when that cloud is used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipe.providers.base import Provider

if TYPE_CHECKING:
    from pipe.config.kubernetes import KubernetesSettings

_MODULES = {
    "aws": "pipe.providers.aws",
    "gcp": "pipe.providers.gcp",
    "azure": "pipe.providers.azure",
    "kubernetes": "pipe.providers.kubernetes",
}


def make_provider(
    cloud: str, region: str, env: Mapping[str, str], *, kubernetes: KubernetesSettings | None = None
) -> Provider:
    """The adapter for cloud, with credentials from env; imports that cloud's SDK and no other.

    Kubernetes takes its settings already parsed (pipe/config/kubernetes.py) instead of reading env."""
    module = importlib.import_module(_MODULES[cloud])
    if cloud == "kubernetes":
        if kubernetes is None:
            raise ValueError("CLOUD kubernetes needs its settings")
        kube_provider: Provider = module.from_settings(kubernetes)
        return kube_provider
    provider: Provider = module.from_env(region, env)
    return provider

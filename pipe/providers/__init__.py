"""The provider-adapter layer. Each cloud's SDK is imported only when that cloud is used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from pipe.providers.base import Provider

_MODULES = {"aws": "pipe.providers.aws", "gcp": "pipe.providers.gcp", "azure": "pipe.providers.azure"}


def make_provider(cloud: str, region: str, env: Mapping[str, str]) -> Provider:
    """The adapter for cloud, with credentials from env; imports that cloud's SDK and no other."""
    module = importlib.import_module(_MODULES[cloud])
    provider: Provider = module.from_env(region, env)
    return provider

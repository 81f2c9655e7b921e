"""The provider-adapter layer. Each cloud's SDK is imported only when that cloud is used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pipe.providers.base import Provider
from pipe.providers.catalog import resolve_location

if TYPE_CHECKING:
    from pipe.config.clouds import CloudCredentials
    from pipe.config.runner import RunnerSettings

_MODULES = {
    "aws": "pipe.providers.aws",
    "gcp": "pipe.providers.gcp",
    "azure": "pipe.providers.azure",
    "kubernetes": "pipe.providers.kubernetes",
}


def make_provider(settings: RunnerSettings, credentials: CloudCredentials) -> Provider:
    """The adapter for settings.cloud; imports that cloud's SDK and no other.

    It takes the cloud's options as pipe/config/ parsed them (settings.options) and its credentials as the step
    gave them (pipe/config/clouds.py cloud_credentials): nothing below reads the environment for an option."""
    module = importlib.import_module(_MODULES[settings.cloud])
    region = resolve_location(settings.cloud, settings.region).region
    provider: Provider = module.create(region, settings.options, credentials)
    return provider

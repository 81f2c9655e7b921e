"""Adapters built the way the pipe builds them, for tests that talk to one cloud through its SDK.

provider_from_env(cloud, region, env) parses the cloud's options with pipe/config/clouds.py and hands the
adapter only the credential variables of env, as pipe/commands/clients.py does through make_provider.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pipe.config.clouds import cloud_credentials
from pipe.config.clouds import load as load_options


def provider_from_env(cloud: str, region: str, env: Mapping[str, str], **client_kwargs: Any) -> Any:
    """The cloud's provider in region (native) for the variables in env; client_kwargs: Azure's client options."""
    module = importlib.import_module(f"pipe.providers.{cloud}")
    return module.create(region, load_options(env, cloud)[cloud], cloud_credentials(env, cloud), **client_kwargs)

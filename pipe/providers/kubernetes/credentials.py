"""Building the kubernetes client from the parsed settings: KUBE_CONFIG, KUBECONFIG or in-cluster, in that order.

The user's secrets in a kubeconfig (token, password, client key) are registered for redaction before the
client exists, so no SDK log line or error can print them. The client keeps urllib3's default retries: a
connection error is retried, a 429 or 503 with Retry-After is retried for reads, and a POST that may have
reached the server is never retried blindly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from pipe import log as redaction
from pipe.config.kubernetes import KubernetesSettings
from pipe.providers.base import ProviderError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

_SECRET_FIELDS = ("token", "password", "client-key-data")


def register_kubeconfig_secrets(kubeconfig: dict[str, Any]) -> None:
    for entry in kubeconfig.get("users") or []:
        user = (entry or {}).get("user") or {}
        for name in _SECRET_FIELDS:
            if isinstance(user.get(name), str):
                redaction.register_secret(user[name])


def api_client(settings: KubernetesSettings) -> tuple[ApiClient, str]:
    """(the API client, the server's URL) for the settings' cluster and context."""
    configuration = client.Configuration()
    context = settings.context or None
    try:
        if settings.kubeconfig is not None:
            register_kubeconfig_secrets(settings.kubeconfig)
            config.load_kube_config_from_dict(
                settings.kubeconfig, context=context, client_configuration=configuration, persist_config=False
            )
        elif settings.kubeconfig_path:
            path = Path(settings.kubeconfig_path)
            if not path.is_file():
                raise ProviderError(f"KUBECONFIG: {settings.kubeconfig_path!r} is not a file")
            loaded = yaml.safe_load(path.read_text())
            if isinstance(loaded, dict):
                register_kubeconfig_secrets(loaded)
            config.load_kube_config(
                config_file=str(path), context=context, client_configuration=configuration, persist_config=False
            )
        else:
            config.load_incluster_config(client_configuration=configuration)
    except ConfigException as problem:
        source = "KUBE_CONFIG" if settings.kubeconfig is not None else "KUBECONFIG" if settings.kubeconfig_path else ""
        if not source:
            raise ProviderError(
                "CLOUD kubernetes needs KUBE_CONFIG (a kubeconfig, raw or base64) or KUBECONFIG (its path): "
                f"this step runs outside a cluster ({' '.join(str(problem).split())})"
            ) from None
        raise ProviderError(f"{source} cannot be used: {' '.join(str(problem).split())}") from None
    except yaml.YAMLError:
        raise ProviderError(f"KUBECONFIG: {settings.kubeconfig_path!r} is not a kubeconfig (YAML)") from None
    return client.ApiClient(configuration), str(configuration.host)

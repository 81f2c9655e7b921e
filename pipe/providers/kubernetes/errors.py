"""Kubernetes API failures -> one line that says what to fix (ProviderError), naming the variable to change.

The Role the pipe needs is the README's ("Kubernetes"): jobs create/get/list/delete, secrets create, pods and
events list. A 403 names the verb and resource the cluster refused, in the API server's own words.
"""

from __future__ import annotations

import json
from typing import Any

from pipe.providers.base import ProviderError

ROLE_HINT = (
    "give the kubeconfig's user the Role in the README "
    "(jobs: create, get, list, delete; secrets: create, delete; pods, events: list)"
)


def _status(body: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if isinstance(body, str | bytes) else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def api_error(error: Any, action: str, namespace: str) -> ProviderError:
    """An ApiException (status, reason, body) from the kubernetes client -> ProviderError."""
    code = int(getattr(error, "status", 0) or 0)
    status = _status(getattr(error, "body", None))
    said = status.get("message") or getattr(error, "reason", "") or str(error)
    said = " ".join(str(said).split())
    if code == 0:
        return ProviderError(f"Could not reach the Kubernetes API to {action}: {said}; check the server in KUBE_CONFIG")
    if code == 401:
        return ProviderError(
            f"The cluster rejected the credentials to {action} (401 Unauthorized): the token in KUBE_CONFIG "
            "(or KUBECONFIG) is invalid or expired"
        )
    if code == 403:
        return ProviderError(f"Not allowed to {action}: {said}; {ROLE_HINT} in namespace {namespace}")
    if code == 404 and (status.get("details") or {}).get("kind") == "namespaces":
        return ProviderError(f"KUBERNETES_NAMESPACE: {namespace!r} does not exist in the cluster ({said})")
    if code == 422:
        return ProviderError(f"The cluster refused to {action}: {said}")
    return ProviderError(
        f"Kubernetes failed to {action}: {code} {status.get('reason') or ''}: {said}".replace(" : ", ": ")
    )


def transport_error(error: BaseException, action: str, server: str) -> ProviderError:
    """urllib3's connection, TLS and timeout errors -> ProviderError."""
    text = " ".join(str(error).split())
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return ProviderError(
            f"Could not verify the Kubernetes API's certificate at {server} to {action}: KUBE_CONFIG needs the "
            "cluster's certificate-authority-data"
        )
    return ProviderError(f"Could not reach the Kubernetes API at {server} to {action}: {text[:300]}")

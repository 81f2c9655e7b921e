"""CLOUD: kubernetes. The runner runs as a batch/v1 Job of ours on the team's own cluster.

Modules: manifests (the Job and its Secret as plain dicts, no SDK: DRY_RUN prints them), credentials (the
kubernetes client from KUBE_CONFIG, KUBECONFIG or in-cluster), errors (API failures as one line), trouble (why a
pod is not up), lifecycle (the Provider). The kubernetes SDK is imported only by create(), so a run on
another cloud, loads none of it (a DRY_RUN loads it for its credentials check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipe.config.clouds import CloudCredentials
    from pipe.config.kubernetes import KubernetesOptions
    from pipe.providers.kubernetes.lifecycle import KubernetesProvider


def create(namespace: str, options: KubernetesOptions, credentials: CloudCredentials) -> KubernetesProvider:
    """The provider for the parsed options. The cluster's credentials are part of them (KUBE_CONFIG, parsed and
    checked in pipe/config/kubernetes.py): `credentials` holds nothing on Kubernetes."""
    from pipe.providers.kubernetes.credentials import api_client
    from pipe.providers.kubernetes.lifecycle import KubernetesProvider

    api, server = api_client(options)
    return KubernetesProvider(options, api, server)

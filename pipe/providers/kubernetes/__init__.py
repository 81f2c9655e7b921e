"""CLOUD: kubernetes. The runner runs as a batch/v1 Job of ours on the team's own cluster.

Modules: manifests (the Job and its Secret as plain dicts, no SDK: DRY_RUN prints them), credentials (the
kubernetes client from KUBE_CONFIG, KUBECONFIG or in-cluster), errors (API failures as one line), trouble (why a
pod is not up), lifecycle (the Provider). The kubernetes SDK is imported only by from_settings(), so a run on
another cloud, or a DRY_RUN, loads none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipe.config.kubernetes import KubernetesSettings
    from pipe.providers.kubernetes.lifecycle import KubernetesProvider


def from_settings(settings: KubernetesSettings) -> KubernetesProvider:
    from pipe.providers.kubernetes.credentials import api_client
    from pipe.providers.kubernetes.lifecycle import KubernetesProvider

    api, server = api_client(settings)
    return KubernetesProvider(settings, api, server)

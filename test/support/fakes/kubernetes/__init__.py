"""A local Kubernetes API server (test-only), held to Kubernetes' published schemas, for the real client.

    from fakes.kubernetes import FakeKubernetes
    with FakeKubernetes() as kube:           # HTTPS on 127.0.0.1, a free port, a certificate of its own
        kube.kubeconfig()                    # -> a kubeconfig document for the `kubernetes` client
        kube.env()                           # -> CLOUD and KUBE_CONFIG for a pipe run

Modules: status (API errors), schema (published JSON schemas), validation (the API server's own checks),
state (objects, selectors, garbage collection), events, scheduler, kubelet, lifecycle (admission and the
Job and TTL controllers), routes, server.
Run by hand: python -m fakes.kubernetes --port 6443 (from test/).
"""

from fakes.kubernetes.server import CONTEXT, DEFAULT_TOKEN, DEFAULT_USER, FakeKubernetes

__all__ = ["CONTEXT", "DEFAULT_TOKEN", "DEFAULT_USER", "FakeKubernetes"]

"""CLOUD: gcp. One Compute Engine instance per runner (docs/providers.md, "GCP").

Modules: credentials (a key, a key file or workload identity, google.auth only), network (our firewall rule and
Cloud NAT, decided on plain data), request (the insert body), errors (what Compute answered -> what to fix),
api (the clients, bounded retries, operation waits), images (CLOUD_IMAGE), baked (images of ours: COMMAND: bake),
egress (the network calls made once per run), lifecycle (the Provider). The compute SDK (about 2 s to import) is
loaded only by create(), so a run on another cloud loads none of it
(a DRY_RUN loads it for its one credentials check and the quota reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipe.config.clouds import CloudCredentials, GcpOptions
    from pipe.providers.gcp.lifecycle import GcpProvider


def create(region: str, options: GcpOptions, credentials: CloudCredentials) -> GcpProvider:
    """The provider for the parsed options, signed in with the step's credentials (GCP_COMPUTE_ENDPOINT, tests
    only: anonymously, against a local stand-in, with short waits)."""
    from pipe.providers.gcp.credentials import sign_in
    from pipe.providers.gcp.lifecycle import LOCAL_WAIT_S, POLL_INTERVAL_S, RETRY_BACKOFF_S, GcpProvider

    local = bool(options.compute_endpoint)
    signed_in = sign_in(options, credentials)
    return GcpProvider(
        region,
        project=signed_in.project or None,
        endpoint=options.compute_endpoint or None,
        credentials=signed_in.credentials,
        credentials_source=signed_in.source,
        network=options.network,
        subnetwork=options.subnetwork,
        external_ip=options.external_ip,
        poll_interval_s=LOCAL_WAIT_S if local else POLL_INTERVAL_S,
        retry_backoff_s=LOCAL_WAIT_S if local else RETRY_BACKOFF_S,
    )

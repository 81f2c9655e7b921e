"""CLOUD: azure. One resource group per runner, holding its VM and everything it needs (docs/providers.md, "Azure").

Modules: credentials (a service principal's secret or the step's OIDC token), request (the group's resources as
Azure's models), errors (what Resource Manager answered -> what to fix), instances (a VM as the Instance the flow
reads), lifecycle (the Provider). The Azure SDK is imported only by create(), so a run on another cloud loads none of it
(a DRY_RUN loads it for its one credentials check and the quota reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipe.config.clouds import AzureOptions, CloudCredentials
    from pipe.providers.azure.lifecycle import AzureProvider


def create(region: str, options: AzureOptions, credentials: CloudCredentials, **client_kwargs: Any) -> AzureProvider:
    """client_kwargs go to every management client (azure-core options; tests: polling_interval=0)."""
    from pipe.providers.azure.credentials import sign_in
    from pipe.providers.azure.lifecycle import AzureProvider

    signed_in = sign_in(options, credentials)
    base_url = options.resource_manager_endpoint or None
    return AzureProvider(
        region,
        subscription_id=signed_in.subscription_id,
        credential=signed_in.credential,
        base_url=base_url,
        connection_verify=(options.ca_bundle or None) if base_url else None,
        public_ip=options.public_ip,
        **client_kwargs,
    )

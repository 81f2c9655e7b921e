"""Azure credentials from the step's credential variables: a service principal's secret, or the step's OIDC token
as a client assertion (a federated credential on the app registration); the secret wins when both are given.

Building a credential makes no call; tokens are fetched on first use. A CA bundle is trusted only by endpoints
that are overridden (pipe/config/endpoints.py checked they are loopback): a sign-in to the real Entra ID keeps
the system's CAs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core.credentials import TokenCredential
from azure.identity import ClientAssertionCredential, ClientSecretCredential

from pipe.providers.base import ProviderError

if TYPE_CHECKING:
    from pipe.config.clouds import AzureOptions, CloudCredentials


@dataclass(frozen=True)
class SignedIn:
    subscription_id: str
    credential: TokenCredential


def sign_in(options: AzureOptions, credentials: CloudCredentials) -> SignedIn:
    subscription = credentials.get("AZURE_SUBSCRIPTION_ID").strip()
    tenant = credentials.get("AZURE_TENANT_ID").strip()
    client = credentials.get("AZURE_CLIENT_ID").strip()
    secret = credentials.get("AZURE_CLIENT_SECRET")
    oidc_token = credentials.get("BITBUCKET_STEP_OIDC_TOKEN")
    missing = [
        name
        for name, value in (
            ("AZURE_SUBSCRIPTION_ID", subscription),
            ("AZURE_TENANT_ID", tenant),
            ("AZURE_CLIENT_ID", client),
        )
        if not value
    ]
    if not secret and not oidc_token:
        missing.append("AZURE_CLIENT_SECRET (or `oidc: true` on the step)")
    if missing:
        raise ProviderError(
            "Azure credentials missing: set " + ", ".join(missing) + ". CLOUD=azure needs AZURE_SUBSCRIPTION_ID, "
            "AZURE_TENANT_ID, AZURE_CLIENT_ID and either AZURE_CLIENT_SECRET or OIDC (BITBUCKET_STEP_OIDC_TOKEN)"
        )
    verify = options.ca_bundle or None
    credential_kwargs: dict[str, Any] = {}
    if options.authority_host:
        credential_kwargs.update(authority=options.authority_host, disable_instance_discovery=True)
        if verify:
            credential_kwargs["connection_verify"] = verify
    credential: TokenCredential
    if secret:
        credential = ClientSecretCredential(tenant, client, secret, **credential_kwargs)
    else:
        credential = ClientAssertionCredential(tenant, client, lambda: oidc_token, **credential_kwargs)
    return SignedIn(subscription, credential)

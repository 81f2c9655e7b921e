"""GCP credentials from the step's credential variables. Imports google.auth only (not the compute SDK).

Precedence, first match wins:
1. GCP_WORKLOAD_IDENTITY_PROVIDER (+ GCP_SERVICE_ACCOUNT to impersonate) with the step's
   BITBUCKET_STEP_OIDC_TOKEN (`oidc: true`): workload identity federation, no stored key.
2. GCP_CREDENTIALS or GOOGLE_CREDENTIALS: a service-account key (or external-account config)
   JSON passed as a secured variable, raw or base64-encoded.
3. GOOGLE_APPLICATION_CREDENTIALS: path to such a JSON file.

Building credentials makes no network call; tokens are fetched on first API use.
Credentials and tokens are never printed; errors name variables, not values.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipe.providers.base import ProviderError

if TYPE_CHECKING:
    from pipe.config.clouds import CloudCredentials, GcpOptions

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
STS_TOKEN_URL = "https://sts.googleapis.com/v1/token"  # noqa: S105 - a URL, not a secret
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 - a type name
IMPERSONATION_URL = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:generateAccessToken"

MISSING_CREDENTIALS = (
    "No GCP credentials: set GCP_CREDENTIALS (service-account key JSON, as a secured variable), "
    "GOOGLE_APPLICATION_CREDENTIALS (path to a key file), or GCP_WORKLOAD_IDENTITY_PROVIDER and "
    "GCP_SERVICE_ACCOUNT with `oidc: true` on the step"
)
_PROVIDER = re.compile(r"^projects/\d+/locations/global/workloadIdentityPools/[^/]+/providers/[^/]+$")
_SA_EMAIL = re.compile(r"^[^@\s]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$")


@dataclass(frozen=True)
class GcpCredentials:
    credentials: Any  # a google.auth.credentials.Credentials
    project: str  # '' when the source does not name one
    source: str  # which variable the credentials came from (safe to print)


def _static_supplier(token: str) -> Any:
    from google.auth import identity_pool

    class _StepOidcToken(identity_pool.SubjectTokenSupplier):
        """The step's OIDC token, held in memory (never written to disk)."""

        def get_subject_token(self, context: Any, request: Any) -> str:
            return token

    return _StepOidcToken()


def oidc_credentials(provider: str, service_account: str, token: str) -> Any:
    """External-account credentials exchanging the Bitbucket step's OIDC token at Google STS."""
    from google.auth import identity_pool

    provider = provider.strip().removeprefix("//iam.googleapis.com/")
    if not _PROVIDER.match(provider):
        raise ProviderError(
            "GCP_WORKLOAD_IDENTITY_PROVIDER must look like "
            "projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER"
        )
    kwargs: dict[str, Any] = {}
    if service_account:
        kwargs["service_account_impersonation_url"] = IMPERSONATION_URL.format(service_account)
    return identity_pool.Credentials(
        audience=f"//iam.googleapis.com/{provider}",
        subject_token_type=JWT_TOKEN_TYPE,
        token_url=STS_TOKEN_URL,
        subject_token_supplier=_static_supplier(token),
        scopes=[CLOUD_PLATFORM_SCOPE],
        **kwargs,
    )


def _decode_key(text: str, variable: str) -> dict[str, Any]:
    text = text.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=False).decode("utf-8").strip()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ProviderError(f"{variable} is neither JSON nor base64-encoded JSON") from None
    try:
        info = json.loads(text)
    except ValueError:
        raise ProviderError(f"{variable} is not valid JSON (paste the whole key file, or its base64)") from None
    if not isinstance(info, dict) or "type" not in info:
        raise ProviderError(f"{variable} is not a Google credentials JSON (no 'type' field)")
    return info


def _load_info(info: dict[str, Any], variable: str) -> tuple[Any, str]:
    """Type-specific loading: a service-account key, or a workload identity (identity pool) config.

    Other types, notably executable-sourced external accounts, are refused rather than run.
    """
    from google.auth import identity_pool
    from google.oauth2 import service_account

    kind = info.get("type")
    try:
        if kind == "service_account":
            credentials: Any = service_account.Credentials.from_service_account_info(
                info, scopes=[CLOUD_PLATFORM_SCOPE]
            )
        elif kind == "external_account" and "executable" not in info.get("credential_source", {}):
            credentials = identity_pool.Credentials.from_info(info, scopes=[CLOUD_PLATFORM_SCOPE])
        else:
            raise ProviderError(
                f"{variable}: credentials of type {kind!r} are not supported; use a service-account key "
                "or a workload identity federation config"
            )
    except (ValueError, KeyError, TypeError) as exc:
        # Name the problem's kind, never the values: the JSON holds a private key.
        raise ProviderError(f"{variable}: unusable credentials JSON ({type(exc).__name__})") from None
    project = str(info.get("project_id", "") or info.get("quota_project_id", "") or "")
    return credentials, project


def gcp_credentials(given: CloudCredentials) -> GcpCredentials:
    """The credentials the step's credential variables describe, or ProviderError naming what to set."""
    provider = given.get("GCP_WORKLOAD_IDENTITY_PROVIDER").strip()
    if provider:
        token = given.get("BITBUCKET_STEP_OIDC_TOKEN").strip()
        if not token:
            raise ProviderError(
                "GCP_WORKLOAD_IDENTITY_PROVIDER is set but BITBUCKET_STEP_OIDC_TOKEN is empty: "
                "add `oidc: true` to the step"
            )
        service_account = given.get("GCP_SERVICE_ACCOUNT").strip()
        match = _SA_EMAIL.match(service_account)
        project = match.group(1) if match else ""
        return GcpCredentials(oidc_credentials(provider, service_account, token), project,
                              "GCP_WORKLOAD_IDENTITY_PROVIDER")  # fmt: skip
    for variable in ("GCP_CREDENTIALS", "GOOGLE_CREDENTIALS"):
        text = given.get(variable)
        if text.strip():
            credentials, project = _load_info(_decode_key(text, variable), variable)
            return GcpCredentials(credentials, project, variable)
    path = given.get("GOOGLE_APPLICATION_CREDENTIALS").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            raise ProviderError(f"GOOGLE_APPLICATION_CREDENTIALS: cannot read the key file {path!r}") from None
        credentials, project = _load_info(_decode_key(text, "GOOGLE_APPLICATION_CREDENTIALS"),
                                          "GOOGLE_APPLICATION_CREDENTIALS")  # fmt: skip
        return GcpCredentials(credentials, project, "GOOGLE_APPLICATION_CREDENTIALS")
    raise ProviderError(MISSING_CREDENTIALS)


def sign_in(options: GcpOptions, given: CloudCredentials) -> GcpCredentials:
    """The credentials and project to use: GCP_PROJECT (or GOOGLE_CLOUD_PROJECT) else the credentials' own; with
    GCP_COMPUTE_ENDPOINT (tests only) anonymous, and a project is still needed (the provider says so)."""
    if options.compute_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return GcpCredentials(AnonymousCredentials(), options.project, "anonymous (GCP_COMPUTE_ENDPOINT)")
    found = gcp_credentials(given)
    project = options.project or found.project
    if not project:
        raise ProviderError(f"GCP_PROJECT is not set and {found.source} does not name a project: set GCP_PROJECT")
    return GcpCredentials(found.credentials, project, f"the credentials from {found.source}")

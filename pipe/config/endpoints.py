"""Endpoint overrides (tests and the local demo): where the SDKs send credentials, so they follow one rule.

Plain http:// only for loopback hosts, and a CA bundle only for an overridden loopback endpoint
(CONTRACT-NOTES: origins); pipe/config/parsers.py parse_endpoint holds the URL rule itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from pipe.config.parsers import check_text, is_loopback_host, parse_endpoint
from pipe.config.variables import ConfigError


def azure_authority(value: str) -> str:
    """azure-identity takes a host name (https is implied) or an https URL."""
    if value and "://" not in value:
        check_text("AZURE_AUTHORITY_HOST", value, max_length=253, pattern=r"[A-Za-z0-9.-]+(:\d+)?",
                   allowed="a host name such as login.microsoftonline.com, or an https URL")  # fmt: skip
        return value
    return endpoint("AZURE_AUTHORITY_HOST", value)


def endpoint(name: str, value: str) -> str:
    return parse_endpoint(name, value, example="https://127.0.0.1:8443 (for tests)")


def aws_service_endpoints(env: Mapping[str, str]) -> None:
    """boto3 also reads AWS_ENDPOINT_URL_<SERVICE> (AWS_ENDPOINT_URL_STS, ...): the same rule applies to them."""
    for name in sorted(env):
        if name.startswith("AWS_ENDPOINT_URL_"):
            endpoint(name, env[name].strip())


def azure_ca_bundle(env: Mapping[str, str]) -> str:
    """AZURE_CA_BUNDLE trusts another CA: only for endpoints that are overridden, and only on loopback (the local
    Azure stand-in). The real Azure endpoints keep the system's CAs (pipe/providers/azure.py applies it so)."""
    bundle = env.get("AZURE_CA_BUNDLE", "").strip()
    if not bundle:
        return ""
    overridden = {
        name: env.get(name, "").strip()
        for name in ("AZURE_RESOURCE_MANAGER_ENDPOINT", "AZURE_AUTHORITY_HOST")
        if env.get(name, "").strip()
    }
    if not overridden:
        raise ConfigError(
            "AZURE_CA_BUNDLE",
            bundle,
            "it applies only to an overridden loopback endpoint (AZURE_RESOURCE_MANAGER_"
            "ENDPOINT, AZURE_AUTHORITY_HOST); the real Azure endpoints use the system's CAs: leave it unset",
        )
    for name, url in overridden.items():
        host = urlsplit(url if "://" in url else f"https://{url}").hostname or ""
        if not is_loopback_host(host):
            raise ConfigError(
                "AZURE_CA_BUNDLE", bundle, f"a CA bundle is trusted only for loopback endpoints, and {name} is {url!r}"
            )
    if not os.path.isfile(bundle):
        raise ConfigError("AZURE_CA_BUNDLE", bundle, "the path of a PEM file of CA certificates")
    return bundle

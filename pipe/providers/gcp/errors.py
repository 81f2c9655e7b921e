"""What Compute Engine answered, for the user: capacity (try elsewhere), quota, permissions, a missing image or
network, as one line that says what to fix. Which errors are worth a retry is said here too."""

from __future__ import annotations

import re

import requests
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from pipe.providers.base import CapacityError, PermissionDenied, ProviderError

# Operation/HTTP error codes that mean "no capacity here now": try another zone or market.
CAPACITY_CODES = frozenset(
    {
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        "RESOURCE_POOL_EXHAUSTED",
        "STOCKOUT",
    }
)
CAPACITY_MESSAGES = ("does not have enough resources available", "resource pool exhausted")
QUOTA_CODES = frozenset({"QUOTA_EXCEEDED", "quotaExceeded", "rateLimitExceeded"})
# A zone that does not offer the machine type or accelerator is, for the flow, a zone without capacity.
NOT_OFFERED = re.compile(r"(Machine type|Accelerator type) .* does not exist in zone", re.IGNORECASE)
RETRYABLE = (
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.TooManyRequests,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)


def op_error(op: compute_v1.Operation) -> tuple[str, str]:
    """(the first error's code, every error's message) of a finished operation; ("", "") when it succeeded."""
    errors = list(op.error.errors) if op.error else []
    if not errors:
        return "", ""
    return errors[0].code, "; ".join(e.message for e in errors)


def quota_error(where: str, message: str) -> ProviderError:
    return ProviderError(
        f"GCP quota exceeded {where}: {message}. Request more quota (IAM & Admin > Quotas) or choose a smaller "
        "CLOUD_TYPE / CLOUD_GPU or another CLOUD_REGION"
    )


def explain(
    exc: gexc.GoogleAPICallError, action: str, permission: str, *, region: str, project: str, source: str
) -> ProviderError:
    """A ProviderError whose message says what to fix; source names the credentials (safe to print)."""
    message = exc.message or str(exc)
    reasons = {str(e.get("reason", "")) for e in (exc.errors or []) if isinstance(e, dict)}
    if reasons & QUOTA_CODES or "quota" in message.lower():
        return quota_error(f"while trying to {action} in {region}", message)
    if isinstance(exc, gexc.Unauthorized):
        return ProviderError(f"GCP rejected {source} (HTTP 401) while trying to {action}: check the key "
                             "or the workload identity provider")  # fmt: skip
    if isinstance(exc, gexc.Forbidden):
        if "accessNotConfigured" in reasons or "has not been used" in message or "is disabled" in message:
            return ProviderError(f"Enable the Compute Engine API (compute.googleapis.com) in project "
                                 f"{project}: {message}")  # fmt: skip
        return PermissionDenied(
            f"GCP denied permission to {action}: {source} need {permission} in project {project} ({message})"
        )
    if isinstance(exc, gexc.NotFound):
        if "/images/" in message:
            return ProviderError(f"CLOUD_IMAGE: image not found ({message})")
        if "/networks/" in message or "/subnetworks/" in message:
            return ProviderError(f"GCP_NETWORK / GCP_SUBNETWORK: not found ({message})")
        if "serviceAccount" in message or "service account" in message.lower():
            return ProviderError(f"CLOUD_PERMISSION_SET: service account not found ({message})")
        if re.search(r"projects/[^/']+'", message):
            return ProviderError(f"GCP_PROJECT {project!r} not found or not visible to {source}")
    return ProviderError(f"GCP failed to {action} (HTTP {exc.code}): {message}")


def launch_failure(message: str, code: str, zone: str, spot: bool, region: str) -> ProviderError | None:
    """An insert's failure that is about this zone or market (CapacityError: try the next) or quota; None when
    it is neither (then explain() says what to fix)."""
    market = "Spot" if spot else "on-demand"
    if code in CAPACITY_CODES or any(m in message.lower() for m in CAPACITY_MESSAGES):
        return CapacityError(f"GCP has no {market} capacity in {zone} ({code or 'capacity'}): {message}")
    if NOT_OFFERED.search(message):
        return CapacityError(f"GCP: not offered in {zone}: {message}")
    if code in QUOTA_CODES:
        return quota_error(f"in {region} ({code})", message)
    return None

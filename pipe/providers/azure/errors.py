"""What Azure Resource Manager answered, for the user: capacity and Spot quota (try elsewhere), quota,
permissions, and the variable an invalid parameter comes from, as one line that says what to fix."""

from __future__ import annotations

import re

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from pipe.providers.base import CapacityError, PermissionDenied, ProviderError

# Error codes that mean "no capacity for this size here right now": try the next zone/market.
CAPACITY_CODES = frozenset(
    {
        "SkuNotAvailable",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
    }
)
QUOTA_CODES = frozenset({"QuotaExceeded", "OperationNotAllowed"})  # OperationNotAllowed: only with "quota" in it

# Where an invalid parameter comes from, by the error's target or code.
_VARIABLE_BY_TARGET = (
    ("vmsize", "CLOUD_TYPE"),
    ("imagereference", "CLOUD_IMAGE"),
    ("maxprice", "CLOUD_SPOT_PRICE"),
    ("billingprofile", "CLOUD_SPOT_PRICE"),
    ("disksizegb", "CLOUD_HDD_SIZE"),
    ("identity", "CLOUD_PERMISSION_SET"),
    ("userassignedidentities", "CLOUD_PERMISSION_SET"),
    ("location", "CLOUD_REGION"),
    ("tags", "CLOUD_METADATA"),
    ("customdata", "the startup script"),
)
_VARIABLE_BY_CODE = {
    "ImageNotFound": "CLOUD_IMAGE",
    "PlatformImageNotFound": "CLOUD_IMAGE",
    "InvalidTemplateDeployment": "CLOUD_IMAGE",
    "MarketplacePurchaseEligibilityFailed": "CLOUD_IMAGE",
    "ResourcePurchaseValidationFailed": "CLOUD_IMAGE",
    "VMMarketplaceInvalidInput": "CLOUD_IMAGE",
    "SubscriptionNotFound": "AZURE_SUBSCRIPTION_ID",
    "InvalidSubscriptionId": "AZURE_SUBSCRIPTION_ID",
    "LocationNotAvailableForResourceType": "CLOUD_REGION",
    "LocationNotAvailableForResourceGroup": "CLOUD_REGION",
    "NoRegisteredProviderFound": "CLOUD_REGION",
    "InvalidResourceLocation": "CLOUD_REGION",
    "InvalidTag": "CLOUD_METADATA",
    "InvalidTagNameCharacters": "CLOUD_METADATA",
    "FailedIdentityOperation": "CLOUD_PERMISSION_SET",
    "LinkedInvalidPropertyId": "CLOUD_PERMISSION_SET",
}


def explain(exc: Exception, action: str, *, region: str, subscription_id: str, spot: bool = False) -> ProviderError:
    """Translate an SDK error into one line that says what to fix."""
    if isinstance(exc, ServiceRequestError):
        return ProviderError(f"Could not reach Azure to {action}: {_first_line(str(exc))}")
    assert isinstance(exc, HttpResponseError)
    codes, message, target = error_parts(exc)
    said = f"Azure said: {'/'.join(codes) or exc.status_code}: {message}"
    if isinstance(exc, ClientAuthenticationError) or exc.status_code == 401:
        return ProviderError(
            f"Azure rejected the credentials while trying to {action}: check AZURE_TENANT_ID, AZURE_CLIENT_ID "
            f"and AZURE_CLIENT_SECRET, or the federated credential trusting BITBUCKET_STEP_OIDC_TOKEN. {said}"
        )
    if CAPACITY_CODES.intersection(codes):
        return CapacityError(f"No capacity to {action} ({'spot' if spot else 'on-demand'}). {said}")
    if QUOTA_CODES.intersection(codes) and "quota" in message.lower():
        if spot:  # Spot has its own (low-priority) vCPU quota: on-demand may still fit
            return CapacityError(f"Spot vCPU quota exhausted to {action}. {said}")
        return ProviderError(
            f"vCPU quota exhausted to {action}: request a quota increase for this VM family in "
            f"{region} (Azure portal > Quotas) or pick a smaller CLOUD_TYPE. {said}"
        )
    if "LinkedAuthorizationFailed" in codes:
        return ProviderError(
            f"Not allowed to {action}: give the service principal AZURE_CLIENT_ID the Managed Identity Operator "
            f"role on the identities in CLOUD_PERMISSION_SET. {said}"
        )
    if "AuthorizationFailed" in codes or exc.status_code == 403:
        return PermissionDenied(
            f"Not allowed to {action}: give the service principal AZURE_CLIENT_ID the Contributor role (or "
            f"Virtual Machine Contributor and Network Contributor) on subscription {subscription_id}. {said}"
        )
    if "MissingSubscriptionRegistration" in codes:
        return ProviderError(
            f"Cannot {action}: register the resource providers Microsoft.Compute and Microsoft.Network on "
            f"subscription {subscription_id} (az provider register -n <namespace>). {said}"
        )
    variable = _VARIABLE_BY_CODE.get(next((c for c in codes if c in _VARIABLE_BY_CODE), ""), "")
    if not variable and target:
        variable = next((v for key, v in _VARIABLE_BY_TARGET if key in target.lower()), "")
    if variable:
        return ProviderError(f"Azure refused to {action}: check {variable}. {said}")
    return ProviderError(f"Azure failed to {action}. {said}")


# Azure's refusal of an OS disk smaller than the image's (hitachienergy/epiphany#1049): code OperationNotAllowed,
# target osDisk.diskSizeGB, "The specified disk size 30 GB is smaller than the size of the corresponding disk in
# the VM image: 32 GB. This is not allowed. Please choose equal or greater size or do not specify an explicit size."
_IMAGE_DISK = re.compile(r"smaller than the size of the corresponding disk in the VM image: (\d+) GB")


def image_disk_gb_from(exc: HttpResponseError) -> int | None:
    codes, message, _ = error_parts(exc)
    found = _IMAGE_DISK.search(message)
    return int(found.group(1)) if found and "OperationNotAllowed" in codes else None


def error_parts(exc: HttpResponseError) -> tuple[list[str], str, str]:
    """(codes, message, target) from the top-level error and its details."""
    error = exc.error
    codes: list[str] = []
    message = ""
    target = ""
    if error is not None:
        codes = [c for c in [error.code, *(d.code for d in (error.details or []))] if c]
        message = error.message or ""
        target = error.target or next((d.target for d in (error.details or []) if d.target), "") or ""
        detail_messages = [d.message for d in (error.details or []) if d.message]
        if detail_messages and detail_messages[0] not in message:
            message = f"{message} {detail_messages[0]}".strip()
    return codes, _first_line(message or exc.reason or str(exc)), target


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""

"""What AWS answered, for the user: error codes translated into what to fix, and one DEBUG line per call."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError

from pipe.providers.base import PermissionDenied, ProviderError

log = logging.getLogger("pipe.providers.aws")

# Errors that mean "not here, not now": try the next zone or market.
CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientCapacity",
        "SpotMaxPriceTooLow",
        "MaxSpotInstanceCountExceeded",
        "Unsupported",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def explain(error: Exception, operation: str) -> ProviderError:
    """An AWS error -> what to fix. The message never holds credentials (AWS does not echo them)."""
    if isinstance(error, NoCredentialsError):
        return ProviderError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY as secured variables, "
            "or AWS_OIDC_ROLE_ARN with 'oidc: true' on the step"
        )
    if isinstance(error, ClientError):
        code = error_code(error)
        message = str(error.response.get("Error", {}).get("Message", "")).splitlines()[0][:300]
        if code in ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException"):
            return PermissionDenied(
                f"the AWS credentials may not call ec2:{_action(operation)} ({code}); grant it to the user or role"
            )
        if code in ("AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken"):
            return ProviderError(
                f"AWS rejected the credentials ({code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
            )
        if code.startswith("InvalidAMIID"):
            return ProviderError(f"CLOUD_IMAGE: {message}")
        if code in ("InvalidParameterValue", "InvalidParameterCombination") and "instance type" in message.lower():
            return ProviderError(f"CLOUD_TYPE: {message}")
        if code == "NoSuchEntity" or (code == "InvalidParameterValue" and "iamInstanceProfile" in message):
            return ProviderError(f"CLOUD_PERMISSION_SET: {message}")
        return ProviderError(f"AWS {operation} failed ({code}): {message}")
    return ProviderError(f"AWS {operation} failed: {str(error).splitlines()[0][:300]}")


def _action(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def log_calls(client: Any) -> None:
    """Our own DEBUG line per AWS call: the operation and how it answered, never a body or a header.

    botocore's own DEBUG log (kept at WARNING, pipe/log.py) prints both: RunInstances' UserData, and
    AssumeRoleWithWebIdentity's response with the temporary keys.
    """
    service = client.meta.service_model.service_name

    def after_call(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        error = parsed.get("Error", {}).get("Code", "") if isinstance(parsed, dict) else ""
        status = getattr(http_response, "status_code", "?")
        log.debug("aws %s %s -> %s%s", service, model.name, status, f" {error}" if error else "")

    client.meta.events.register(f"after-call.{service}", after_call)

"""What AWS answered, for the user: error codes translated into what to fix, and one DEBUG line per call."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pipe.providers.base import PermissionDenied, ProviderError
from pipe.providers.permissions import needed_by

log = logging.getLogger("pipe.providers.aws")

# Errors that mean "not here, not now": try the next zone or market. SpotMaxPriceTooLow (spot above
# CLOUD_SPOT_PRICE here) tries the next zone's spot only: pipe/runner/launch.py never turns a price cap into
# an on-demand launch unless CLOUD_SPOT_FALLBACK is on-demand.
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
        if code in DENIED_CODES:
            return PermissionDenied(denied(operation, code, str(error.response.get("Error", {}).get("Message", ""))))
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


# --- access denied: name the permission that is missing (issue 30, item 7)

DENIED_CODES = ("UnauthorizedOperation", "AccessDenied", "AccessDeniedException")
# EC2's refusal carries an opaque blob only sts:DecodeAuthorizationMessage reads ("Encoded authorization failure
# message: ...", STS API reference, DecodeAuthorizationMessage); other services name the action in the message
# ("User: arn:... is not authorized to perform: ec2:DescribeImages").
_ENCODED = re.compile(r"Encoded authorization failure message:\s*(\S+)")
_NAMED = re.compile(r"not authorized to perform:?\s+([a-z0-9-]+:[A-Za-z0-9]+)")
_decoder: Callable[[str], str] | None = None


def decode_with(sts: Callable[[], Any]) -> None:
    """Decode EC2's encoded authorization messages with the STS client `sts()` makes (the run's own credentials),
    made only when a message needs decoding."""
    global _decoder

    def decode(encoded: str) -> str:
        client = sts()
        log_calls(client)
        return str(client.decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])

    _decoder = decode


def denied(operation: str, code: str, message: str) -> str:
    """One line naming the permission: the one AWS's decoded message names, or the one its message names, or else
    every permission the call needs (pipe/providers/permissions_aws.py, the source of docs/policies/aws-*.json)."""
    call = f"ec2:{_action(operation)}"
    encoded = _ENCODED.search(message)
    decoded = _decoded(encoded.group(1)) if encoded else None
    if decoded:
        action, resource = decoded
        where = f" on {resource}" if resource and resource != "*" else ""
        side = "" if action == call else f", which {call} needs"
        return f"the AWS credentials may not call {action}{where}{side} ({code}); grant it to the user or role"
    named = _NAMED.search(message)
    if named:
        return f"the AWS credentials may not call {named.group(1)} ({code}); grant it to the user or role"
    needs = [p for p in needed_by("aws", operation) if p != call]
    if not needs:
        return f"the AWS credentials may not call {call} ({code}); grant it to the user or role"
    return (
        f"the AWS credentials may not call {call} ({code}): it needs {call}, {', '.join(needs)}; grant the missing "
        "one to the user or role (docs/policies/; add sts:DecodeAuthorizationMessage and AWS names it)"
    )


def _decoded(encoded: str) -> tuple[str, str] | None:
    """(action, resource) from the decoded message, or None where the caller may not decode it."""
    if _decoder is None:
        return None
    try:
        context = json.loads(_decoder(encoded)).get("context", {})
    except (ClientError, BotoCoreError, ValueError, AttributeError):
        return None
    action = str(context.get("action", ""))
    return (action, str(context.get("resource", ""))) if action else None


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

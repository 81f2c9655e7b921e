"""The boto3 session for the step: the standard AWS credential chain, or OIDC web identity.

boto3 reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from the process environment itself.
With AWS_OIDC_ROLE_ARN (parsed in pipe/config/clouds.py) the role is assumed with the step's OIDC token, and the
hour's keys it answers are registered for redaction before anything can print them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from pipe import log as redaction
from pipe.providers.aws.errors import error_code, log_calls
from pipe.providers.base import ProviderError

if TYPE_CHECKING:
    from pipe.config.clouds import AwsOptions, CloudCredentials

ROLE_SESSION_S = 3600


def session(region: str, options: AwsOptions, credentials: CloudCredentials) -> boto3.session.Session:
    role_arn = options.oidc_role_arn
    if not role_arn:
        return boto3.session.Session(region_name=region)
    token = credentials.get("BITBUCKET_STEP_OIDC_TOKEN")
    if not token:
        raise ProviderError(
            "AWS_OIDC_ROLE_ARN is set but the step has no BITBUCKET_STEP_OIDC_TOKEN: add 'oidc: true' to the step"
        )
    sts = boto3.client("sts", region_name=region, aws_access_key_id="", aws_secret_access_key="")
    log_calls(sts)
    try:
        keys = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=credentials.session_name,
            WebIdentityToken=token,
            DurationSeconds=ROLE_SESSION_S,
        )["Credentials"]
    except ClientError as error:
        raise ProviderError(
            f"AWS_OIDC_ROLE_ARN: could not assume {role_arn} with the step's OIDC token "
            f"({error_code(error)}); check the role's trust policy names Bitbucket's OIDC provider"
        ) from None
    # Working keys for an hour: masked in all output from here on, like the variables' own secrets.
    for key in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        redaction.register_secret(str(keys.get(key, "")))
    return boto3.session.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name=region,
    )

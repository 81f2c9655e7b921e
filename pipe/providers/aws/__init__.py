"""CLOUD: aws. One EC2 instance per runner, secure by default (docs/providers.md, "AWS").

Modules: credentials (a boto3 session: the standard chain, or OIDC web identity), request (the RunInstances
body and the instance it answers, plain data), errors (AWS error codes -> what to fix; one DEBUG line per
call), network (the subnet, the security group and whether a public IP is needed), lifecycle (the Provider).
boto3 is imported only by create(), so a run on another cloud loads none of it
(a DRY_RUN loads it for its one credentials check and the quota reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipe.config.clouds import AwsOptions, CloudCredentials
    from pipe.providers.aws.lifecycle import AwsProvider


def create(region: str, options: AwsOptions, credentials: CloudCredentials) -> AwsProvider:
    from pipe.providers.aws.credentials import session
    from pipe.providers.aws.lifecycle import AwsProvider

    return AwsProvider(region, session(region, options, credentials), options)

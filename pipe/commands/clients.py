"""Building the Bitbucket client from the settings every command shares."""

from __future__ import annotations

from typing import Literal

from pipe.bitbucket.client import Auth, BitbucketClient
from pipe.config.common import CommonSettings


def bitbucket_client(
    common: CommonSettings, runner_scope: Literal["repository", "workspace"] = "repository"
) -> BitbucketClient:
    auth = Auth(access_token=common.auth.access_token, email=common.auth.email, api_token=common.auth.api_token)
    return BitbucketClient(auth, common.workspace, common.repo_slug, common.api_url, runner_scope=runner_scope)

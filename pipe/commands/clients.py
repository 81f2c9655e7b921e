"""Building the Bitbucket client from the settings every command shares."""

from __future__ import annotations

from typing import Literal

from pipe.bitbucket.client import Auth, BitbucketClient, BitbucketError
from pipe.bitbucket.models import Repository
from pipe.config.common import CommonSettings
from pipe.providers.tags import is_uuid


def bitbucket_client(
    common: CommonSettings, runner_scope: Literal["repository", "workspace"] = "repository"
) -> BitbucketClient:
    auth = Auth(access_token=common.auth.access_token, email=common.auth.email, api_token=common.auth.api_token)
    return BitbucketClient(auth, common.workspace, common.repo_slug, common.api_url, runner_scope=runner_scope)


def repository_uuid(common: CommonSettings, client: BitbucketClient) -> str:
    """The step's BITBUCKET_REPO_UUID, else the repository's own (one call): what names our instances."""
    return common.repo_uuid or checked_uuid(client.repository(), common)


def checked_uuid(repository: Repository | None, common: CommonSettings) -> str:
    """The repository's UUID from Bitbucket's answer, refused when it is not one (it names our instances)."""
    if repository is None or not is_uuid(repository.uuid):
        raise BitbucketError(
            f"Bitbucket GET /repositories/{common.workspace}/{common.repo_slug} answered without a valid "
            f"repository uuid ({(repository.uuid if repository else '')[:60]!r}); set BITBUCKET_REPO_UUID"
        )
    return repository.uuid

"""Small typed views of Bitbucket API objects; nothing else leaves pipe/bitbucket as a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# How Bitbucket merges a pull request (the spec's pullrequest_merge_parameters.merge_strategy, the ones a
# pipe may ask for): MERGE's values.
MergeStrategy = Literal["merge_commit", "squash", "fast_forward"]
# Where a runner is registered: a repository runner or a workspace runner.
RunnerScope = Literal["repository", "workspace"]


@dataclass(frozen=True)
class Repository:
    full_name: str  # workspace/repo_slug
    uuid: str  # {....}
    workspace_uuid: str  # {....}: the runner's ACCOUNT_UUID
    main_branch: str


@dataclass(frozen=True)
class Runner:
    uuid: str  # {....}
    name: str
    labels: tuple[str, ...]
    status: str  # state.status: ONLINE | OFFLINE | UNREGISTERED | DISABLED | ENABLED | UNHEALTHY
    busy: bool  # state.step is present: a step is running on it
    created_on: str = ""
    updated_on: str = ""


@dataclass(frozen=True)
class RegisteredRunner:
    """A runner just created: the only time Bitbucket returns its OAuth secret."""

    runner: Runner
    oauth_client_id: str
    oauth_client_secret: str = field(repr=False)
    oauth_token_endpoint: str = ""
    oauth_audience: str = ""


@dataclass(frozen=True)
class Comment:
    id: int
    raw: str  # content.raw
    author_uuid: str
    html_url: str


@dataclass(frozen=True)
class PullRequest:
    id: int
    title: str
    description: str
    state: str  # OPEN | MERGED | DECLINED | SUPERSEDED
    source_branch: str
    destination_branch: str
    source_commit: str
    html_url: str


@dataclass(frozen=True)
class Download:
    name: str
    html_url: str  # https://bitbucket.org/{workspace}/{repo}/downloads/{name}
    size: int = 0


@dataclass(frozen=True)
class ReportData:
    """One Code Insights data field: type is BOOLEAN|DATE|DURATION|LINK|NUMBER|PERCENTAGE|TEXT."""

    title: str
    type: str
    value: object

"""The only code that speaks the Bitbucket Cloud 2.0 API.

CONTRACT STUB: the method names, arguments and return types below are the
interface the modes code against. The bodies are being implemented (issue 3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from pipe.bitbucket.models import (
    Comment,
    Download,
    PullRequest,
    RegisteredRunner,
    ReportData,
    Repository,
    Runner,
)

DEFAULT_API_URL = "https://api.bitbucket.org/2.0"


class BitbucketError(Exception):
    """A failed API call; str() is one line that says what to fix, and never holds a secret."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Auth:
    """Bearer access token, or Basic Atlassian account email + API token."""

    def __init__(self, *, access_token: str = "", email: str = "", api_token: str = "") -> None:
        raise NotImplementedError


class BitbucketClient:
    def __init__(
        self,
        auth: Auth,
        workspace: str,
        repo_slug: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        max_retry_time_s: float = 120.0,
        runner_scope: Literal["repository", "workspace"] = "repository",
    ) -> None:
        raise NotImplementedError

    # --- repository and user
    def repository(self) -> Repository: ...
    def current_user_uuid(self) -> str: ...

    # --- runners (repository runners by default; workspace runners when runner_scope="workspace")
    def list_runners(self) -> list[Runner]: ...
    def get_runner(self, uuid: str) -> Runner | None: ...  # None on 404
    def create_runner(self, name: str, labels: list[str]) -> RegisteredRunner: ...
    def set_runner_state(self, uuid: str, status: Literal["ENABLED", "DISABLED"]) -> Runner: ...
    def delete_runner(self, uuid: str) -> None: ...  # a missing runner is not an error

    # --- comments
    def list_pr_comments(self, pr_id: int) -> Iterator[Comment]: ...
    def create_pr_comment(self, pr_id: int, raw: str) -> Comment: ...
    def update_pr_comment(self, pr_id: int, comment_id: int, raw: str) -> Comment: ...
    def list_commit_comments(self, commit: str) -> Iterator[Comment]: ...
    def create_commit_comment(self, commit: str, raw: str) -> Comment: ...
    def update_commit_comment(self, commit: str, comment_id: int, raw: str) -> Comment: ...

    # --- pull requests
    def list_pull_requests(self, *, source_branch: str | None = None, state: str = "OPEN") -> Iterator[PullRequest]: ...
    def pull_requests_for_commit(self, commit: str) -> list[PullRequest]: ...
    def get_pull_request(self, pr_id: int) -> PullRequest: ...
    def create_pull_request(
        self, *, title: str, description: str, source_branch: str, destination_branch: str, close_source_branch: bool
    ) -> PullRequest: ...
    def merge_pull_request(
        self, pr_id: int, *, strategy: Literal["merge_commit", "squash", "fast_forward"], message: str = ""
    ) -> PullRequest: ...

    # --- source
    def branch_head(self, branch: str) -> str | None: ...  # commit hash, None if no such branch
    def get_file(self, commit: str, path: str) -> bytes | None: ...  # None on 404
    def commit_files(
        self,
        *,
        branch: str,
        parent: str,
        message: str,
        author: str,
        files: Mapping[str, bytes],
    ) -> str: ...  # POST /src multipart; returns the new commit hash

    # --- downloads
    def list_downloads(self) -> Iterator[Download]: ...
    def upload_download(self, name: str, content: bytes) -> Download: ...

    # --- Code Insights
    def put_report(
        self,
        commit: str,
        report_id: str,
        *,
        title: str,
        details: str,
        report_type: str = "TEST",
        result: str | None = None,  # PASSED | FAILED | PENDING | None
        data: list[ReportData] | None = None,
        link: str = "",
    ) -> None: ...
    def add_annotations(self, commit: str, report_id: str, annotations: list[Mapping[str, object]]) -> None: ...

    # --- observability
    @property
    def request_count(self) -> int: ...

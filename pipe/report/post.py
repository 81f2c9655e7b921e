"""Posting the comment: create, or with UPDATE edit (PUT) the pipe's own earlier one.

An earlier comment is ours only if its author is the token's user AND it carries
the marker of this WATERMARK_TITLE; anything else is never touched. Nothing is
deleted and re-posted: the comment keeps its place, link and replies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pipe.bitbucket.client import BitbucketError
from pipe.bitbucket.models import Comment
from pipe.report.errors import ReportError
from pipe.report.marker import has_marker
from pipe.report.targets import CommitTarget, PrTarget, Target


class CommentsClient(Protocol):
    def current_user_uuid(self) -> str: ...
    def list_pr_comments(self, pr_id: int) -> Iterable[Comment]: ...
    def create_pr_comment(self, pr_id: int, raw: str) -> Comment: ...
    def update_pr_comment(self, pr_id: int, comment_id: int, raw: str) -> Comment: ...
    def list_commit_comments(self, commit: str) -> Iterable[Comment]: ...
    def create_commit_comment(self, commit: str, raw: str) -> Comment: ...
    def update_commit_comment(self, commit: str, comment_id: int, raw: str) -> Comment: ...


def _same_user(a: str, b: str) -> bool:
    return bool(a) and a.strip("{}").lower() == b.strip("{}").lower()


def find_own(comments: Iterable[Comment], me: str, watermark_title: str) -> Comment | None:
    """The latest comment by `me` with this title's marker."""
    ours = [c for c in comments if _same_user(c.author_uuid, me) and has_marker(c.raw, watermark_title)]
    return max(ours, key=lambda c: c.id) if ours else None


def existing(client: CommentsClient, target: Target, watermark_title: str) -> Comment | None:
    me = client.current_user_uuid()
    comments = (
        client.list_pr_comments(target.id) if isinstance(target, PrTarget) else client.list_commit_comments(target.sha)
    )
    return find_own(comments, me, watermark_title)


def post(client: CommentsClient, target: Target, raw: str, *, previous: Comment | None) -> Comment:
    try:
        if isinstance(target, PrTarget):
            if previous is not None:
                return client.update_pr_comment(target.id, previous.id, raw)
            return client.create_pr_comment(target.id, raw)
        if previous is not None:
            return client.update_commit_comment(target.sha, previous.id, raw)
        return client.create_commit_comment(target.sha, raw)
    except BitbucketError as err:
        if err.status == 404 and isinstance(target, CommitTarget):
            raise ReportError.invalid(
                "TARGET", f"commit/{target.sha}", f"commit {target.sha} is not in this repository ({err})"
            ) from None
        raise

"""Comments on pull requests and commits: the report's comment, created once and then edited in place."""

from __future__ import annotations

from collections.abc import Iterator

import requests

from pipe.bitbucket import parse
from pipe.bitbucket.api import ApiBase, seg
from pipe.bitbucket.errors import UnexpectedAnswer
from pipe.bitbucket.models import Comment


class CommentsApi(ApiBase):
    # --- comments
    def list_pr_comments(self, pr_id: int) -> Iterator[Comment]:
        yield from self.http.paginate(
            f"{self._repo}/pullrequests/{pr_id}/comments", {"pagelen": 100}, parse=parse.comment
        )

    def create_pr_comment(self, pr_id: int, raw: str) -> Comment:
        path = f"{self._repo}/pullrequests/{pr_id}/comments"
        return self._create(
            "comment",
            lambda: self.http.fetch("POST", path, parse.comment, json_body={"content": {"raw": raw}}),
            lambda: self._own_comment(self.list_pr_comments(pr_id), raw),
        )

    def update_pr_comment(self, pr_id: int, comment_id: int, raw: str) -> Comment:
        path = f"{self._repo}/pullrequests/{pr_id}/comments/{comment_id}"
        return self.http.fetch("PUT", path, parse.comment, json_body={"content": {"raw": raw}})

    def list_commit_comments(self, commit: str) -> Iterator[Comment]:
        yield from self.http.paginate(
            f"{self._repo}/commit/{seg(commit)}/comments", {"pagelen": 100}, parse=parse.comment
        )

    def create_commit_comment(self, commit: str, raw: str) -> Comment:
        path = f"{self._repo}/commit/{seg(commit)}/comments"
        return self._create(
            "comment",
            lambda: self._comment_from(self.http.request("POST", path, json_body={"content": {"raw": raw}})),
            lambda: self._own_comment(self.list_commit_comments(commit), raw),
        )

    def _own_comment(self, comments: Iterator[Comment], raw: str) -> Comment | None:
        """The newest comment by the token's user with exactly this text: the report's marker is part of it."""
        me = self.current_user_uuid().strip("{}").lower()
        same = [c for c in comments if c.author_uuid.strip("{}").lower() == me and c.raw.rstrip() == raw.rstrip()]
        return max(same, key=lambda c: c.id) if same else None

    def update_commit_comment(self, commit: str, comment_id: int, raw: str) -> Comment:
        path = f"{self._repo}/commit/{seg(commit)}/comments/{comment_id}"
        return self._comment_from(self.http.request("PUT", path, json_body={"content": {"raw": raw}}))

    def _comment_from(self, resp: requests.Response) -> Comment:
        """Commit comment writes answer 201; the spec promises only a Location header, so fall back to it."""
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = None
        if isinstance(data, dict) and "id" in data:
            return self.http.answer(resp, parse.comment)
        location = resp.headers.get("Location", "")
        if not location:
            raise UnexpectedAnswer(
                "Bitbucket created the commit comment but returned neither the comment nor its Location"
            )
        return self.http.fetch("GET", self.http.absolute(location, resp.url), parse.comment, ok=(200,))


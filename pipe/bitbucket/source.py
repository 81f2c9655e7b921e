"""The repository's source: branch heads, files at a commit, and commits made through the API (POST /src)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from pipe.bitbucket import parse
from pipe.bitbucket.api import ApiBase, seg
from pipe.bitbucket.errors import BitbucketError

# POST /src documents no size limit. The one public report (BCLOUD-17993, "Won't Fix") has ~20 MB
# requests failing with 500, so one commit through the API carries at most 10 MB in all.
SRC_MAX_COMMIT_BYTES = 10_000_000


class SourceApi(ApiBase):
    # --- source
    def branch_head(self, branch: str) -> str | None:
        resp = self.http.request("GET", f"{self._repo}/refs/branches/{seg(branch)}", ok=(200,), passthrough=(404,))
        if resp.status_code == 404:
            return None
        return self.http.answer(resp, parse.branch_head) or None

    def get_file(self, commit: str, path: str) -> bytes | None:
        url = f"{self._repo}/src/{seg(commit)}/{quote(path.lstrip('/'), safe='/')}"
        resp = self.http.request("GET", url, ok=(200,), passthrough=(404,))
        return None if resp.status_code == 404 else resp.content

    def commit_files(
        self,
        *,
        branch: str,
        parent: str,
        message: str,
        author: str,
        files: Mapping[str, bytes],
    ) -> str:
        """POST /src multipart: one file field per path, plus message, author, branch, parents.

        Bitbucket answers 201 with the new commit's URL in Location; returns its hash.
        """
        form: dict[str, str] = {"message": message, "branch": branch}
        if author:
            form["author"] = author
        if parent:
            form["parents"] = parent
        parts = [
            ("/" + p.lstrip("/"), (p.rsplit("/", 1)[-1], content, "application/octet-stream"))
            for p, content in files.items()
        ]
        def post() -> str:
            resp = self.http.request("POST", f"{self._repo}/src", data=form, files=parts, ok=(200, 201))
            location = resp.headers.get("Location", "")
            commit = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1] if "/commit/" in location else ""
            if commit:
                return commit
            head = self.branch_head(branch)
            if not head:
                raise BitbucketError(f"Bitbucket accepted the commit to {branch} but the branch has no head")
            return head

        def find() -> str | None:
            """The commit landed if the branch moved off `parent` (or now exists) to a commit holding these files."""
            head = self.branch_head(branch)
            if not head or head == parent:
                return None
            return head if all(self.get_file(head, path) == content for path, content in files.items()) else None

        return self._create(f"commit on {branch}", post, find)


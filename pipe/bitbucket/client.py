"""The only code that speaks the Bitbucket Cloud 2.0 API.

``BitbucketClient`` maps each operation the modes need onto a route of Atlassian's published API
(see ``../shared/specs/bitbucket-cloud-openapi.json``); ``http.Transport`` does auth, timeouts,
retries, pagination and the one-line error messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests

from pipe.bitbucket import parse
from pipe.bitbucket.errors import BitbucketError
from pipe.bitbucket.http import Auth, RateLimit, Transport, error_message
from pipe.bitbucket.models import (
    Comment,
    Download,
    PullRequest,
    RegisteredRunner,
    ReportData,
    Repository,
    Runner,
)

__all__ = ["DEFAULT_API_URL", "Auth", "BitbucketClient", "BitbucketError"]
# POST /src documents no size limit. The one public report (BCLOUD-17993, "Won't Fix") has ~20 MB
# requests failing with 500, so one commit through the API carries at most 10 MB in all.
SRC_MAX_COMMIT_BYTES = 10_000_000

DEFAULT_API_URL = "https://api.bitbucket.org/2.0"
# The runners listing's largest page: the spec's paginated_pipeline_runners.pagelen says "The default
# value is 10 with 100 being the maximum allowed value"; Atlassian's runners-autoscaler asks for
# pagelen=100 too (clients/bitbucket/base.py, ITEMS_PER_PAGE). Above the maximum Bitbucket answers
# 400 "Invalid pagelen" (jenkinsci/bitbucket-branch-source-plugin#1182, gratipay/gratipay.com#788).
RUNNERS_PAGELEN = 100
RunnerScope = Literal["repository", "workspace"]
ANNOTATIONS_PER_REQUEST = 100  # Bitbucket's limit per POST
log = logging.getLogger("pipe.bitbucket")


def _seg(value: str) -> str:
    """One URL path segment (branch names may hold '/')."""
    return quote(value, safe="")


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
        runner_scope: RunnerScope = "repository",
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        pending_retries: int = 3,
    ) -> None:
        """``sleep`` is what retries and 202 polling wait with (tests pass a no-op).

        ``pending_retries`` bounds how often a 202 "still indexing" answer is polled again.
        """
        if runner_scope not in ("repository", "workspace"):
            raise BitbucketError(f"runner scope must be 'repository' or 'workspace', not {runner_scope!r}")
        self.workspace = workspace
        self.repo_slug = repo_slug
        self.runner_scope = runner_scope
        self._sleep = sleep
        self._pending_retries = pending_retries
        self.http = Transport(
            auth,
            api_url or DEFAULT_API_URL,
            timeout_s=timeout_s,
            max_retries=max_retries,
            max_retry_time_s=max_retry_time_s,
            sleep=sleep,
            session=session,
            repository_hint=f" (looked for {workspace}/{repo_slug})",
        )
        self._repo = f"/repositories/{_seg(workspace)}/{_seg(repo_slug)}"
        self._runners_in: dict[str, str] = {
            "repository": f"{self._repo}/pipelines-config/runners",
            "workspace": f"/workspaces/{_seg(workspace)}/pipelines-config/runners",
        }
        self._runners = self._runners_in[runner_scope]

    # --- repository and user
    def repository(self) -> Repository:
        return parse.repository(self.http.json("GET", self._repo, ok=(200,)))

    def current_user_uuid(self) -> str:
        return str(self.http.json("GET", "/user", ok=(200,)).get("uuid", ""))

    # --- runners
    def list_runners(self) -> list[Runner]:
        return [runner for page, _more in self.runner_pages() for runner in page]

    def runner_pages(self) -> Iterator[tuple[list[Runner], bool]]:
        """This scope's runners, RUNNERS_PAGELEN a page, with whether more pages follow. A page is
        requested only when the caller asks for it: stopping early costs nothing more."""
        for page in self.http.pages(self._runners, {"pagelen": RUNNERS_PAGELEN}):
            yield [parse.runner(r) for r in page.values], page.more

    def get_runner(self, uuid: str, scope: RunnerScope | None = None) -> Runner | None:
        """The runner by its UUID in ``scope`` (default: this client's); None when Bitbucket answers 404."""
        base = self._runners_in[scope or self.runner_scope]
        resp = self.http.request("GET", f"{base}/{_seg(uuid)}", ok=(200,), passthrough=(404,))
        return None if resp.status_code == 404 else parse.runner(resp.json())

    def create_runner(self, name: str, labels: list[str]) -> RegisteredRunner:
        data = self.http.json("POST", self._runners, json_body={"name": name, "labels": list(labels)}, ok=(200, 201))
        registered = parse.registered_runner(data)
        self.http.remember_secret(registered.oauth_client_secret)
        return registered

    def set_runner_state(self, uuid: str, status: Literal["ENABLED", "DISABLED"]) -> Runner | None:
        """The runner as Bitbucket answers the update; None when it is gone (404)."""
        body = {"state": {"status": status}}
        path = f"{self._runners}/{_seg(uuid)}"
        resp = self.http.request("PUT", path, json_body=body, ok=(200,), passthrough=(404,))
        return None if resp.status_code == 404 else parse.runner(resp.json())

    def delete_runner(self, uuid: str) -> None:
        self.http.request("DELETE", f"{self._runners}/{_seg(uuid)}", ok=(200, 204), passthrough=(404,))

    # --- comments
    def list_pr_comments(self, pr_id: int) -> Iterator[Comment]:
        for c in self.http.paginate(f"{self._repo}/pullrequests/{pr_id}/comments", {"pagelen": 100}):
            yield parse.comment(c)

    def create_pr_comment(self, pr_id: int, raw: str) -> Comment:
        body = {"content": {"raw": raw}}
        return parse.comment(self.http.json("POST", f"{self._repo}/pullrequests/{pr_id}/comments", json_body=body))

    def update_pr_comment(self, pr_id: int, comment_id: int, raw: str) -> Comment:
        path = f"{self._repo}/pullrequests/{pr_id}/comments/{comment_id}"
        return parse.comment(self.http.json("PUT", path, json_body={"content": {"raw": raw}}))

    def list_commit_comments(self, commit: str) -> Iterator[Comment]:
        for c in self.http.paginate(f"{self._repo}/commit/{_seg(commit)}/comments", {"pagelen": 100}):
            yield parse.comment(c)

    def create_commit_comment(self, commit: str, raw: str) -> Comment:
        resp = self.http.request(
            "POST", f"{self._repo}/commit/{_seg(commit)}/comments", json_body={"content": {"raw": raw}}
        )
        return self._comment_from(resp)

    def update_commit_comment(self, commit: str, comment_id: int, raw: str) -> Comment:
        path = f"{self._repo}/commit/{_seg(commit)}/comments/{comment_id}"
        return self._comment_from(self.http.request("PUT", path, json_body={"content": {"raw": raw}}))

    def _comment_from(self, resp: requests.Response) -> Comment:
        """Commit comment writes answer 201; the spec promises only a Location header, so fall back to it."""
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = None
        if isinstance(data, dict) and "id" in data:
            return parse.comment(data)
        location = resp.headers.get("Location", "")
        if not location:
            raise BitbucketError(
                "Bitbucket created the commit comment but returned neither the comment nor its Location"
            )
        return parse.comment(self.http.json("GET", location, ok=(200,)))

    # --- pull requests
    def list_pull_requests(self, *, source_branch: str | None = None, state: str = "OPEN") -> Iterator[PullRequest]:
        params: dict[str, Any] = {"pagelen": 50}
        if state:
            params["state"] = state
        if source_branch:
            escaped = source_branch.replace("\\", "\\\\").replace('"', '\\"')
            params["q"] = f'source.branch.name = "{escaped}"'
        for pr in self.http.paginate(f"{self._repo}/pullrequests", params):
            parsed = parse.pull_request(pr)
            if source_branch is None or parsed.source_branch == source_branch:
                yield parsed

    def pull_requests_for_commit(self, commit: str) -> list[PullRequest]:
        """PRs containing ``commit``. Bitbucket answers 202 while it indexes: polled a few times, then []."""
        path = f"{self._repo}/commit/{_seg(commit)}/pullrequests"
        for attempt in range(self._pending_retries + 1):
            resp = self.http.request("GET", path, ok=(200,), passthrough=(202, 404))
            if resp.status_code == 200:
                out = [parse.pull_request(v) for v in resp.json().get("values", [])]
                nxt = resp.json().get("next")
                if nxt:
                    out.extend(parse.pull_request(v) for v in self.http.paginate(nxt))
                return out
            if resp.status_code == 404:
                # "the repository does not exist, or pull request commit links have not yet been indexed"
                return []
            if attempt < self._pending_retries:
                self._sleep(1.0)
        log.info("Bitbucket is still indexing pull requests for %s; treating it as none", commit[:12])
        return []

    def get_pull_request(self, pr_id: int) -> PullRequest:
        return parse.pull_request(self.http.json("GET", f"{self._repo}/pullrequests/{pr_id}", ok=(200,)))

    def create_pull_request(
        self, *, title: str, description: str, source_branch: str, destination_branch: str, close_source_branch: bool
    ) -> PullRequest:
        body = {
            "title": title,
            "description": description,
            "source": {"branch": {"name": source_branch}},
            "destination": {"branch": {"name": destination_branch}},
            "close_source_branch": close_source_branch,
        }
        return parse.pull_request(self.http.json("POST", f"{self._repo}/pullrequests", json_body=body, ok=(200, 201)))

    def merge_pull_request(
        self, pr_id: int, *, strategy: Literal["merge_commit", "squash", "fast_forward"], message: str = ""
    ) -> PullRequest:
        body: dict[str, Any] = {"type": "pullrequest_merge_parameters", "merge_strategy": strategy}
        if message:
            body["message"] = message
        path = f"{self._repo}/pullrequests/{pr_id}/merge"
        resp = self.http.request("POST", path, json_body=body, ok=(200, 202), passthrough=(409,))
        if resp.status_code == 409:
            why = error_message(resp) or "one of the branches changed while merging"
            raise BitbucketError(f"Bitbucket refused to merge pull request #{pr_id} with {strategy} (409): {why}", 409)
        if resp.status_code == 202:
            return self._wait_merge(pr_id, resp.headers.get("Location", ""))
        return parse.pull_request(resp.json())

    def _wait_merge(self, pr_id: int, task_url: str) -> PullRequest:
        """Poll the merge task Bitbucket returned with 202 (bounded), then read the pull request."""
        for _ in range(max(1, self._pending_retries) * 10):
            if not task_url:
                break
            task = self.http.json("GET", task_url, ok=(200,))
            status = str(task.get("task_status", "")) if isinstance(task, dict) else ""
            if status == "SUCCESS":
                merged = task.get("merge_result")
                if isinstance(merged, dict) and merged.get("id"):
                    return parse.pull_request(merged)
                break
            self._sleep(1.0)
        pr = self.get_pull_request(pr_id)
        if pr.state != "MERGED":
            raise BitbucketError(f"Bitbucket accepted the merge of pull request #{pr_id} but it has not completed yet")
        return pr

    # --- source
    def branch_head(self, branch: str) -> str | None:
        resp = self.http.request("GET", f"{self._repo}/refs/branches/{_seg(branch)}", ok=(200,), passthrough=(404,))
        if resp.status_code == 404:
            return None
        return str(resp.json().get("target", {}).get("hash", "")) or None

    def get_file(self, commit: str, path: str) -> bytes | None:
        url = f"{self._repo}/src/{_seg(commit)}/{quote(path.lstrip('/'), safe='/')}"
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
        resp = self.http.request("POST", f"{self._repo}/src", data=form, files=parts, ok=(200, 201))
        location = resp.headers.get("Location", "")
        commit = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1] if "/commit/" in location else ""
        if commit:
            return commit
        head = self.branch_head(branch)
        if not head:
            raise BitbucketError(f"Bitbucket accepted the commit to {branch} but the branch has no head")
        return head

    # --- downloads
    def _download_html(self, name: str) -> str:
        base = urlsplit(self.http.api_url)
        host = "bitbucket.org" if base.netloc == "api.bitbucket.org" else base.netloc
        return f"{base.scheme}://{host}/{self.workspace}/{self.repo_slug}/downloads/{quote(name)}"

    def list_downloads(self) -> Iterator[Download]:
        for d in self.http.paginate(f"{self._repo}/downloads"):
            yield parse.download(d, self._download_html(str(d.get("name", ""))))

    def upload_download(self, name: str, content: bytes) -> Download:
        self.http.request(
            "POST",
            f"{self._repo}/downloads",
            files=[("files", (name, content, "application/octet-stream"))],
            ok=(200, 201),
        )
        return Download(name=name, html_url=self._download_html(name), size=len(content))

    # --- Code Insights
    def put_report(
        self,
        commit: str,
        report_id: str,
        *,
        title: str,
        details: str,
        report_type: str = "TEST",
        result: str | None = None,
        data: list[ReportData] | None = None,
        link: str = "",
    ) -> None:
        body: dict[str, Any] = {
            "title": title,
            "details": details,
            "report_type": report_type,
            "reporter": "CML Runner",
        }
        if result:
            body["result"] = result
        if data:
            body["data"] = [{"title": d.title, "type": d.type, "value": d.value} for d in data]
        if link:
            body["link"] = link
        self.http.request(
            "PUT", f"{self._repo}/commit/{_seg(commit)}/reports/{_seg(report_id)}", json_body=body, ok=(200, 201)
        )

    def add_annotations(self, commit: str, report_id: str, annotations: list[Mapping[str, object]]) -> None:
        path = f"{self._repo}/commit/{_seg(commit)}/reports/{_seg(report_id)}/annotations"
        for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST):
            chunk = [dict(a) for a in annotations[i : i + ANNOTATIONS_PER_REQUEST]]
            self.http.request("POST", path, json_body=chunk, ok=(200, 201))

    # --- observability
    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self.http.request_count

    @property
    def rate_limit(self) -> RateLimit:
        """What Bitbucket's answers said about the rate limit so far (429s, X-RateLimit-* headers)."""
        return self.http.rate_limit

"""The only code that speaks the Bitbucket Cloud 2.0 API.

``BitbucketClient`` maps each operation the modes need onto a route of Atlassian's published API
(see ``../shared/specs/bitbucket-cloud-openapi.json``); ``http.Transport`` does auth, timeouts,
retries, pagination and the one-line error messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

import requests

from pipe.bitbucket import parse
from pipe.bitbucket.answers import answer_value
from pipe.bitbucket.errors import BitbucketError, UncertainWrite, UnexpectedAnswer
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

__all__ = ["DEFAULT_API_URL", "Auth", "BitbucketClient", "BitbucketError", "UnexpectedAnswer"]
T = TypeVar("T")
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

    # --- creating: a POST whose answer was lost is looked for before it is sent again
    def _create(self, what: str, post: Callable[[], T], find: Callable[[], T | None]) -> T:
        """post(), and after a failure that may have reached Bitbucket (UncertainWrite), find() what it would
        have created before posting again: a lost answer must not make a second runner, comment or PR.

        find() returns what it found (the POST landed: done), or None (not there: post again). Attempts and
        waits are bounded like every retry of the transport.
        """
        attempt = 0
        while True:
            try:
                return post()
            except UncertainWrite as uncertain:
                attempt += 1
                log.info("%s; looking for the %s before trying again", uncertain, what)
                found = find()
                if found is not None:
                    log.info("The %s was created after all; using it", what)
                    return found
                if attempt > self.http.max_retries:
                    raise BitbucketError(
                        f"{uncertain}; the {what} was not created, gave up after {attempt} attempts"
                    ) from None
                self.http.back_off(attempt)

    # --- repository and user
    def repository(self) -> Repository:
        return self.http.fetch("GET", self._repo, parse.repository, ok=(200,))

    def current_user_uuid(self) -> str:
        return self.http.fetch("GET", "/user", parse.user_uuid, ok=(200,))

    # --- runners
    def list_runners(self) -> list[Runner]:
        return [runner for page, _more in self.runner_pages() for runner in page]

    def runner_pages(self) -> Iterator[tuple[list[Runner], bool]]:
        """This scope's runners, RUNNERS_PAGELEN a page, with whether more pages follow. A page is
        requested only when the caller asks for it: stopping early costs nothing more."""
        for page in self.http.pages(self._runners, {"pagelen": RUNNERS_PAGELEN}, parse=parse.runner):
            yield page.values, page.more

    def get_runner(self, uuid: str, scope: RunnerScope | None = None) -> Runner | None:
        """The runner by its UUID in ``scope`` (default: this client's); None when Bitbucket answers 404."""
        base = self._runners_in[scope or self.runner_scope]
        resp = self.http.request("GET", f"{base}/{_seg(uuid)}", ok=(200,), passthrough=(404,))
        return None if resp.status_code == 404 else self.http.answer(resp, parse.runner)

    def runners_named(self, name: str, labels: list[str]) -> list[Runner]:
        """Runners with this name and exactly these labels: what create_runner(name, labels) registers.

        The listing cannot be filtered by name (the spec gives the runners listing no query parameter), so
        it is paged at RUNNERS_PAGELEN and the paging stops at the first page holding a match: a name is
        used once (NAME is checked unused before a launch, a random one is unique), so a runner whose answer
        was lost costs the pages up to it, and only a registration that never happened reads them all."""
        found: list[Runner] = []
        for page, _more in self.runner_pages():
            found += [r for r in page if r.name == name and set(r.labels) == set(labels)]
            if found:
                break
        return found

    def create_runner(self, name: str, labels: list[str]) -> RegisteredRunner:
        """Register a runner. Its OAuth secret comes only in this answer, so a runner whose answer was lost is
        useless: it is found by name (names are checked unique before), deleted, and registered again."""

        def post() -> RegisteredRunner:
            body = {"name": name, "labels": list(labels)}
            return self.http.fetch("POST", self._runners, parse.registered_runner, json_body=body, ok=(200, 201))

        def find() -> RegisteredRunner | None:
            for lost in self.runners_named(name, labels):
                log.info("Deleting runner %s (%s): its OAuth secret was in the lost answer", name, lost.uuid)
                self.delete_runner(lost.uuid)
            return None

        registered = self._create(f"runner {name}", post, find)
        self.http.remember_secret(registered.oauth_client_secret)
        return registered

    def set_runner_state(self, uuid: str, status: Literal["ENABLED", "DISABLED"]) -> Runner | None:
        """The runner as Bitbucket answers the update; None when it is gone (404)."""
        body = {"state": {"status": status}}
        resp = self.http.request("PUT", f"{self._runners}/{_seg(uuid)}", json_body=body, ok=(200,), passthrough=(404,))
        return None if resp.status_code == 404 else self.http.answer(resp, parse.runner)

    def delete_runner(self, uuid: str) -> None:
        self.http.request("DELETE", f"{self._runners}/{_seg(uuid)}", ok=(200, 204), passthrough=(404,))

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
            f"{self._repo}/commit/{_seg(commit)}/comments", {"pagelen": 100}, parse=parse.comment
        )

    def create_commit_comment(self, commit: str, raw: str) -> Comment:
        path = f"{self._repo}/commit/{_seg(commit)}/comments"
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
        path = f"{self._repo}/commit/{_seg(commit)}/comments/{comment_id}"
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

    # --- pull requests
    def list_pull_requests(self, *, source_branch: str | None = None, state: str = "OPEN") -> Iterator[PullRequest]:
        params: dict[str, Any] = {"pagelen": 50}
        if state:
            params["state"] = state
        if source_branch:
            escaped = source_branch.replace("\\", "\\\\").replace('"', '\\"')
            params["q"] = f'source.branch.name = "{escaped}"'
        for parsed in self.http.paginate(f"{self._repo}/pullrequests", params, parse=parse.pull_request):
            if source_branch is None or parsed.source_branch == source_branch:
                yield parsed

    def pull_requests_for_commit(self, commit: str) -> list[PullRequest]:
        """PRs containing ``commit``. Bitbucket answers 202 while it indexes: polled a few times, then []."""
        path = f"{self._repo}/commit/{_seg(commit)}/pullrequests"
        for attempt in range(self._pending_retries + 1):
            resp = self.http.request("GET", path, ok=(200,), passthrough=(202, 404))
            if resp.status_code == 200:
                return list(self.http.items(resp, parse.pull_request))
            if resp.status_code == 404:
                # "the repository does not exist, or pull request commit links have not yet been indexed"
                return []
            if attempt < self._pending_retries:
                self._sleep(1.0)
        log.info("Bitbucket is still indexing pull requests for %s; treating it as none", commit[:12])
        return []

    def get_pull_request(self, pr_id: int) -> PullRequest:
        return self.http.fetch("GET", f"{self._repo}/pullrequests/{pr_id}", parse.pull_request, ok=(200,))

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
        path = f"{self._repo}/pullrequests"

        def find() -> PullRequest | None:
            found = self.list_pull_requests(source_branch=source_branch, state="OPEN")
            return next((pr for pr in found if pr.destination_branch == destination_branch), None)

        return self._create(
            f"pull request from {source_branch}",
            lambda: self.http.fetch("POST", path, parse.pull_request, json_body=body, ok=(200, 201)),
            find,
        )

    def merge_pull_request(
        self, pr_id: int, *, strategy: Literal["merge_commit", "squash", "fast_forward"], message: str = ""
    ) -> PullRequest:
        body: dict[str, Any] = {"type": "pullrequest_merge_parameters", "merge_strategy": strategy}
        if message:
            body["message"] = message
        path = f"{self._repo}/pullrequests/{pr_id}/merge"

        def merge() -> PullRequest:
            resp = self.http.request("POST", path, json_body=body, ok=(200, 202), passthrough=(409,))
            if resp.status_code == 409:
                why = error_message(resp) or "one of the branches changed while merging"
                raise BitbucketError(
                    f"Bitbucket refused to merge pull request #{pr_id} with {strategy} (409): {why}", 409
                )
            if resp.status_code == 202:
                location = resp.headers.get("Location", "")
                return self._wait_merge(pr_id, self.http.absolute(location, resp.url) if location else "")
            return self.http.answer(resp, parse.pull_request)

        def find() -> PullRequest | None:
            pr = self.get_pull_request(pr_id)
            return pr if pr.state == "MERGED" else None

        return self._create(f"merge of pull request #{pr_id}", merge, find)

    def _wait_merge(self, pr_id: int, task_url: str) -> PullRequest:
        """Poll the merge task Bitbucket returned with 202 (bounded), then read the pull request."""
        for _ in range(max(1, self._pending_retries) * 10):
            if not task_url:
                break
            task = self.http.json("GET", task_url, ok=(200,))
            status = str(task.get("task_status", ""))
            if status == "SUCCESS":
                merged = task.get("merge_result")
                if isinstance(merged, dict) and merged.get("id"):
                    return answer_value(merged, parse.pull_request, f"GET {task_url}")
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
        return self.http.answer(resp, parse.branch_head) or None

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

    # --- downloads
    def _download_html(self, name: str) -> str:
        base = urlsplit(self.http.api_url)
        host = "bitbucket.org" if base.netloc == "api.bitbucket.org" else base.netloc
        return f"{base.scheme}://{host}/{self.workspace}/{self.repo_slug}/downloads/{quote(name)}"

    def list_downloads(self) -> Iterator[Download]:
        yield from self.http.paginate(
            f"{self._repo}/downloads", parse=lambda d: parse.download(d, self._download_html(str(d.get("name", ""))))
        )

    def upload_download(self, name: str, content: bytes) -> Download:
        def post() -> Download:
            self.http.request(
                "POST",
                f"{self._repo}/downloads",
                files=[("files", (name, content, "application/octet-stream"))],
                ok=(200, 201),
            )
            return Download(name=name, html_url=self._download_html(name), size=len(content))

        return self._create(
            f"download {name}", post, lambda: next((d for d in self.list_downloads() if d.name == name), None)
        )

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
            # Annotations are keyed by external_id: posting the same ones again updates them, creates nothing.
            self.http.request("POST", path, json_body=chunk, ok=(200, 201), repeatable=True)

    # --- observability
    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self.http.request_count

    @property
    def rate_limit(self) -> RateLimit:
        """What Bitbucket's answers said about the rate limit so far (429s, X-RateLimit-* headers)."""
        return self.http.rate_limit

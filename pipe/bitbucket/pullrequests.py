"""Pull requests: listing, opening (looked for first after a lost answer) and merging them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pipe.bitbucket import parse
from pipe.bitbucket.answers import answer_value, error_message
from pipe.bitbucket.api import ApiBase, log, seg
from pipe.bitbucket.errors import BitbucketError
from pipe.bitbucket.models import MergeStrategy, PullRequest


class PullRequestsApi(ApiBase):
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
        path = f"{self._repo}/commit/{seg(commit)}/pullrequests"
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
        self, pr_id: int, *, strategy: MergeStrategy, message: str = ""
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


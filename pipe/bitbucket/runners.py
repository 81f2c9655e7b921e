"""Self-hosted runners, in the repository's or the workspace's scope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pipe import log as redaction
from pipe.bitbucket import parse
from pipe.bitbucket.api import ApiBase, log, seg
from pipe.bitbucket.models import RegisteredRunner, Runner, RunnerScope

# The runners listing's largest page: the spec's paginated_pipeline_runners.pagelen says "The default
# value is 10 with 100 being the maximum allowed value"; Atlassian's runners-autoscaler asks for
# pagelen=100 too (clients/bitbucket/base.py, ITEMS_PER_PAGE). Above the maximum Bitbucket answers
# 400 "Invalid pagelen" (jenkinsci/bitbucket-branch-source-plugin#1182, gratipay/gratipay.com#788).
RUNNERS_PAGELEN = 100


class RunnersApi(ApiBase):
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
        resp = self.http.request("GET", f"{base}/{seg(uuid)}", ok=(200,), passthrough=(404,))
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
        # The runner's OAuth secret is in the startup script and the pod's Secret: masked in all output from now.
        redaction.register_secret(registered.oauth_client_secret)
        return registered

    def set_runner_state(self, uuid: str, status: Literal["ENABLED", "DISABLED"]) -> Runner | None:
        """The runner as Bitbucket answers the update; None when it is gone (404)."""
        body = {"state": {"status": status}}
        resp = self.http.request("PUT", f"{self._runners}/{seg(uuid)}", json_body=body, ok=(200,), passthrough=(404,))
        return None if resp.status_code == 404 else self.http.answer(resp, parse.runner)

    def delete_runner(self, uuid: str) -> None:
        self.http.request("DELETE", f"{self._runners}/{seg(uuid)}", ok=(200, 204), passthrough=(404,))


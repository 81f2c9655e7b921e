"""The local Bitbucket held to Atlassian's own OpenAPI description (../shared/specs).

Routes strictly (path template, method, every status a handler can return), bodies loosely (the
spec's schemas via jsonschema, recorded during a scripted walk), and the committed scope table.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from fakes.bitbucket import DEFAULT_TOKEN, FakeBitbucket
from fakes.bitbucket import scopes as all_scopes
from fakes.bitbucket.conformance import check_body, check_routes
from fakes.bitbucket.routing import ROUTES, Reply, Route, match
from fakes.bitbucket.spec import SPEC_PATH, load_spec, operation_scopes, spec_sha256

from pipe.bitbucket import scopes
from pipe.bitbucket.client import Auth, BitbucketClient, BitbucketError
from pipe.bitbucket.http import scopes_for
from pipe.bitbucket.models import ReportData


def test_the_spec_is_there() -> None:
    """Conformance is part of the contract: a missing spec fails loudly instead of skipping the checks."""
    assert SPEC_PATH.is_file(), f"Bitbucket's OpenAPI spec not found at {SPEC_PATH}; set BITBUCKET_OPENAPI_SPEC"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def test_committed_scope_table_matches_the_spec(spec: dict[str, Any]) -> None:
    """The full table, which the local Bitbucket enforces, is the spec's."""
    assert all_scopes.SPEC_SHA256 == spec_sha256()
    assert operation_scopes(spec) == all_scopes.OPERATION_SCOPES


def test_the_clients_scope_table_is_the_specs_for_the_operations_it_calls() -> None:
    """pipe/bitbucket/scopes.py carries only the client's operations, each with the spec's scopes."""
    assert scopes.SPEC_SHA256 == all_scopes.SPEC_SHA256
    assert scopes.OPERATION_SCOPES == {key: all_scopes.OPERATION_SCOPES[key] for key in scopes.OPERATION_SCOPES}
    assert len(scopes.OPERATION_SCOPES) < len(all_scopes.OPERATION_SCOPES) / 5


class _Recording(requests.Session):
    """The session under a client: every (method, operation) it sends, by the local Bitbucket's own routing."""

    def __init__(self, api_url: str) -> None:
        super().__init__()
        self.base = urlsplit(api_url).path
        self.sent: set[tuple[str, str]] = set()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        path = urlsplit(str(url)).path.removeprefix(self.base)
        route, _, _ = match(ROUTES, str(method), path)
        self.sent.add((str(method), route.template if route else path))
        return super().request(method, url, *args, **kwargs)


def test_the_client_calls_no_operation_its_scope_table_lacks(bitbucket: FakeBitbucket) -> None:
    """Walked through every client method: a 403 on any operation the client calls can name the missing scope."""
    session = _Recording(bitbucket.url)
    _walk(bitbucket, session)
    assert session.sent - set(scopes.OPERATION_SCOPES) == set()
    assert len(session.sent) >= 30


def test_scopes_for_concrete_paths() -> None:
    assert scopes_for("POST", "/repositories/a/b/pipelines-config/runners") == (
        "write:runner:bitbucket",
        "read:runner:bitbucket",
    )
    assert scopes_for("GET", "/workspaces/a/pipelines-config/runners/{x}") == ("read:runner:bitbucket",)
    assert scopes_for("POST", "/repositories/a/b/src") == ("write:repository:bitbucket",)
    assert scopes_for("GET", "/repositories/a/b/pullrequests/activity") == ("read:pullrequest:bitbucket",)
    assert scopes_for("GET", "/repositories/a/b/src/abc/dir/file.txt") == ("read:repository:bitbucket",)
    assert scopes_for("GET", "/no/such/route") == ()


def test_every_route_is_a_spec_route_with_listed_statuses(spec: dict[str, Any]) -> None:
    assert check_routes(ROUTES, spec) == []
    assert len({r.key for r in ROUTES}) == len(ROUTES)


def _noop(_ctx: Any) -> Reply:
    return Reply(200)


def test_a_made_up_route_fails_the_check(spec: dict[str, Any]) -> None:
    bogus = [
        *ROUTES,
        Route("GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/autoscale", frozenset({200}), _noop),
        Route("PATCH", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners", frozenset({200}), _noop),
    ]
    problems = check_routes(bogus, spec)
    assert any("autoscale: path template not in the spec" in p for p in problems)
    assert any(p.startswith("PATCH ") and "method not in the spec" in p for p in problems)


def test_an_unlisted_status_fails_the_check(spec: dict[str, Any]) -> None:
    table = [
        dataclasses.replace(r, statuses=r.statuses | {404})
        if r.key == "GET /repositories/{workspace}/{repo_slug}/pipelines-config/runners"
        else r
        for r in ROUTES
    ]
    problems = check_routes(table, spec)
    assert problems == [
        "GET /repositories/{workspace}/{repo_slug}/pipelines-config/runners: returns 404, "
        "which the spec does not list ([200])"
    ]
    described = [
        dataclasses.replace(r, described=frozenset({418}))
        if r.key.startswith("POST ") and r.key.endswith("/src")
        else r
        for r in ROUTES
    ]
    assert any("418" in p for p in check_routes(described, spec))


def test_a_body_missing_the_required_type_fails(spec: dict[str, Any]) -> None:
    errors = check_body(
        spec, "GET", "/repositories/{workspace}/{repo_slug}/pipelines-config/runners/{runner_uuid}", 200, {"uuid": 1}
    )
    assert any("'type' is a required property" in e for e in errors)
    assert any("is not of type 'string'" in e for e in errors)


def _raw(
    fake: FakeBitbucket,
    method: str,
    path: str,
    token: str = DEFAULT_TOKEN,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    return requests.request(
        method,
        f"{fake.url}{path}",
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
        timeout=5,
        allow_redirects=False,
        **kwargs,
    )


def _walk(fake: FakeBitbucket, session: requests.Session | None = None) -> None:
    """Exercise every route, and each status its handler declares, through the client and raw HTTP."""
    auth = Auth(access_token=DEFAULT_TOKEN)
    c = BitbucketClient(auth, "acme", "ml-seeds", fake.url, sleep=lambda _s: None, session=session)
    w = BitbucketClient(
        auth, "acme", "ml-seeds", fake.url, sleep=lambda _s: None, runner_scope="workspace", session=session
    )
    R = "/repositories/acme/ml-seeds"
    c.repository()
    c.current_user_uuid()
    _raw(fake, "GET", "/repositories/acme/nope")  # 404
    _raw(fake, "GET", f"{R}/pipelines-config/runners", token="bad")  # 401
    fake.add_token("weak", {"read:repository:bitbucket"})
    _raw(fake, "GET", f"{R}/pipelines-config/runners", token="weak")  # 403
    _raw(fake, "GET", "/repositories/acme/nope/pipelines-config/runners")  # 403: the spec lists no 404
    for client in (c, w):
        reg = client.create_runner("r", ["self.hosted"])
        fake.present_oauth(reg.oauth_client_id, reg.oauth_client_secret)
        fake.set_runner_busy(reg.runner.uuid)
        client.list_runners()
        client.get_runner(reg.runner.uuid)
        client.set_runner_state(reg.runner.uuid, "DISABLED")
        client.delete_runner(reg.runner.uuid)
        client.delete_runner(reg.runner.uuid)  # 404
        client.get_runner(reg.runner.uuid)  # 404
        base = client._runners
        _raw(fake, "PUT", f"{base}/{{nope}}", json={})  # 404
        _raw(fake, "POST", base, json={"labels": []})  # 400
        _raw(fake, "POST", base, json={"name": "x", "uuid": "{dup}"})
        _raw(fake, "POST", base, json={"name": "x", "uuid": "{dup}"})  # 409
    main = c.branch_head("main")
    assert main
    c.branch_head("nope")  # 404
    _raw(fake, "GET", f"{R}/refs/branches")
    _raw(fake, "GET", "/repositories/acme/nope/refs/branches")  # 404
    _raw(fake, "GET", f"{R}/commit/{main}")
    _raw(fake, "GET", f"{R}/commit/0000000000")  # 404
    head = c.commit_files(branch="cml/x", parent=main, message="m", author="a <a@b>", files={"d/f.txt": b"f"})
    try:
        c.commit_files(branch="cml/x", parent=main, message="m", author="a <a@b>", files={"d/f.txt": b"g"})  # 409
    except BitbucketError:
        pass
    _raw(fake, "POST", "/repositories/acme/nope/src", files={"a": ("a", b"a")})  # 404
    c.get_file(head, "d/f.txt")
    _raw(fake, "GET", f"{R}/src/{head}/d")  # a directory listing
    c.get_file(head, "missing")  # 404
    pr = c.create_pull_request(
        title="t", description="d", source_branch="cml/x", destination_branch="main", close_source_branch=False
    )
    _raw(fake, "POST", f"{R}/pullrequests", json={"title": "t", "source": {"branch": {"name": "x"}}})  # 400
    c.get_pull_request(pr.id)
    _raw(fake, "GET", f"{R}/pullrequests/999")  # 404
    list(c.list_pull_requests(source_branch="cml/x"))
    _raw(fake, "GET", "/repositories/acme/nope/pullrequests")  # 404
    c.pull_requests_for_commit(head)
    fake.repo().indexing_pending = 1
    c.pull_requests_for_commit(head)  # 202 then 200
    c.pull_requests_for_commit("0000000000")  # 404
    cm = c.create_pr_comment(pr.id, "hi")
    c.update_pr_comment(pr.id, cm.id, "ho")
    list(c.list_pr_comments(pr.id))
    _raw(fake, "GET", f"{R}/pullrequests/999/comments")  # 404
    _raw(fake, "POST", f"{R}/pullrequests/999/comments", json={"content": {"raw": "x"}})  # 404
    _raw(fake, "PUT", f"{R}/pullrequests/{pr.id}/comments/1", json={"content": {"raw": "x"}})  # 404
    cc = c.create_commit_comment(head, "hi")
    c.update_commit_comment(head, cc.id, "ho")
    list(c.list_commit_comments(head))
    _raw(fake, "POST", f"{R}/commit/{head}/comments", json={})  # 400
    _raw(fake, "POST", f"{R}/commit/0000000000/comments", json={"content": {"raw": "x"}})  # 404
    _raw(fake, "PUT", f"{R}/commit/{head}/comments/1", json={"content": {"raw": "x"}})  # 400
    c.upload_download("a.bin", b"a")
    list(c.list_downloads())
    _raw(fake, "GET", f"{R}/downloads/a.bin")  # 302
    _raw(fake, "GET", f"{R}/downloads/none.bin")  # 404
    _raw(fake, "POST", f"{R}/downloads", data=b"x", headers={"Content-Type": "text/plain"})  # 406
    _raw(fake, "POST", f"{R}/downloads", files={"other": ("a", b"a")})  # 400
    c.put_report(head, "cml", title="t", details="d", result="PASSED", data=[ReportData("acc", "NUMBER", 1)])
    _raw(fake, "PUT", f"{R}/commit/{head}/reports/bad", json={"title": "t"})  # 400
    _raw(fake, "GET", f"{R}/commit/{head}/reports/cml")
    _raw(fake, "GET", f"{R}/commit/{head}/reports/none")  # 404
    c.add_annotations(head, "cml", [{"external_id": "a", "annotation_type": "BUG", "summary": "s", "line": 1}])
    _raw(fake, "GET", f"{R}/commit/{head}/reports/cml/annotations")
    fake.repo().refuse_merges = "no"
    _raw(fake, "POST", f"{R}/pullrequests/{pr.id}/merge", json={})  # 409
    fake.repo().refuse_merges = ""
    c.merge_pull_request(pr.id, strategy="squash")
    fake.add_fault("status", status=429, retry_after="1", times=1)
    fake.add_fault("status", status=503, times=1)
    c.repository()


def test_scripted_walk_conforms(bitbucket: FakeBitbucket, spec: dict[str, Any]) -> None:
    _walk(bitbucket)
    assert bitbucket.violations == []
    seen = {(m, t, s) for m, t, s, _ in bitbucket.recorded}
    errors = [e for m, t, s, body in bitbucket.recorded for e in check_body(spec, m, t, s, body)]
    assert errors == []
    unexercised = [r.key for r in ROUTES if not any((r.method, r.template) == (m, t) for m, t, _ in seen)]
    assert unexercised == []
    declared = {(r.method, r.template, s) for r in ROUTES for s in r.statuses | r.described}
    assert sorted(declared - seen) == []

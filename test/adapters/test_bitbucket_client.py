"""BitbucketClient against the local Bitbucket over real HTTP: every method's happy path, pagination,
permanent errors and their one-line messages."""

from __future__ import annotations

import json

import pytest
import requests
from fakes.bitbucket import DEFAULT_EMAIL, DEFAULT_TOKEN, FakeBitbucket

from pipe import log as redaction
from pipe.bitbucket.client import Auth, BitbucketClient, BitbucketError
from pipe.bitbucket.models import ReportData


def client(fake: FakeBitbucket, auth: Auth | None = None, **kwargs: object) -> BitbucketClient:
    return BitbucketClient(
        auth or Auth(access_token=DEFAULT_TOKEN),
        "acme",
        "ml-seeds",
        fake.url,
        sleep=lambda _s: None,
        **kwargs,  # type: ignore[arg-type]
    )


# --- repository, user, auth


def test_repository_and_user(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    repo = bb_client.repository()
    state = bitbucket.repo()
    assert repo.full_name == "acme/ml-seeds"
    assert repo.uuid == state.uuid and repo.workspace_uuid == state.workspace.uuid
    assert repo.main_branch == "main"
    assert bb_client.current_user_uuid() == bitbucket.bot.uuid


def test_basic_auth_with_email_and_api_token(bitbucket: FakeBitbucket) -> None:
    c = client(bitbucket, Auth(email=DEFAULT_EMAIL, api_token=DEFAULT_TOKEN))
    assert c.repository().full_name == "acme/ml-seeds"


def test_no_credentials_is_a_clear_error() -> None:
    with pytest.raises(BitbucketError, match="BITBUCKET_ACCESS_TOKEN"):
        Auth()


def test_401_says_the_token_is_invalid(bitbucket: FakeBitbucket) -> None:
    c = client(bitbucket, Auth(access_token="not-a-token"))
    with pytest.raises(BitbucketError) as err:
        c.list_runners()
    assert str(err.value) == (
        "Bitbucket rejected the credentials (401): the access token or API token is invalid or expired"
    )
    assert err.value.status == 401
    assert c.request_count == 1  # permanent: no retry


def test_403_names_the_missing_scope(bitbucket: FakeBitbucket) -> None:
    bitbucket.add_token("read-only", {"read:runner:bitbucket", "read:repository:bitbucket"})
    c = client(bitbucket, Auth(access_token="read-only"))
    assert c.list_runners() == []
    with pytest.raises(BitbucketError) as err:
        c.create_runner("r", ["self.hosted"])
    msg = str(err.value)
    assert "403" in msg and "write:runner:bitbucket" in msg and "BITBUCKET_ACCESS_TOKEN" in msg
    assert "\n" not in msg and "read-only" not in msg
    assert c.request_count == 2


def test_404_on_repository_points_at_the_variables(bitbucket: FakeBitbucket) -> None:
    c = BitbucketClient(Auth(access_token=DEFAULT_TOKEN), "acme", "no-such-repo", bitbucket.url, sleep=lambda _s: None)
    with pytest.raises(BitbucketError, match="check BITBUCKET_WORKSPACE / BITBUCKET_REPO_SLUG") as err:
        c.repository()
    assert err.value.status == 404


def test_400_carries_bitbuckets_message(bb_client: BitbucketClient) -> None:
    with pytest.raises(BitbucketError, match=r"\(400\): source: Branch not found: nope"):
        bb_client.create_pull_request(
            title="t", description="", source_branch="nope", destination_branch="main", close_source_branch=False
        )


# --- runners


@pytest.mark.parametrize("scope", ["repository", "workspace"])
def test_runner_lifecycle(bitbucket: FakeBitbucket, scope: str) -> None:
    c = client(bitbucket, runner_scope=scope)
    reg = c.create_runner("cml-1", ["self.hosted", "linux", "cml"])
    assert reg.oauth_client_id and reg.oauth_client_secret
    assert reg.oauth_token_endpoint.endswith("/_fake/oauth2/token")
    assert reg.runner.status == "UNREGISTERED" and reg.runner.labels == ("self.hosted", "linux", "cml")
    where = bitbucket.repo().runners if scope == "repository" else bitbucket.repo().workspace.runners
    assert reg.runner.uuid in where
    assert bitbucket.present_oauth(reg.oauth_client_id, "wrong") is None
    assert bitbucket.present_oauth(reg.oauth_client_id, reg.oauth_client_secret)
    got = c.get_runner(reg.runner.uuid)
    assert got is not None and got.status == "ONLINE" and not got.busy
    bitbucket.set_runner_busy(reg.runner.uuid)
    assert [r.busy for r in c.list_runners()] == [True]
    assert c.set_runner_state(reg.runner.uuid, "DISABLED").status == "DISABLED"
    assert c.set_runner_state(reg.runner.uuid, "ENABLED").status == "ONLINE"
    bitbucket.set_runner_offline(reg.runner.uuid)
    assert c.list_runners()[0].status == "OFFLINE"
    c.delete_runner(reg.runner.uuid)
    c.delete_runner(reg.runner.uuid)  # already gone: not an error
    assert c.get_runner(reg.runner.uuid) is None
    assert c.list_runners() == []


def test_runner_secret_is_returned_once(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    reg = bb_client.create_runner("cml-1", ["self.hosted"])
    import requests

    r = requests.get(
        f"{bitbucket.url}/repositories/acme/ml-seeds/pipelines-config/runners/{reg.runner.uuid}",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=5,
    )
    assert r.status_code == 200
    assert "secret" not in r.json()["oauth_client"] and reg.oauth_client_secret not in r.text


def test_the_token_and_a_new_runners_secret_are_masked_everywhere_by_the_one_redaction_path(
    bitbucket: FakeBitbucket,
) -> None:
    """The client registers what it holds with pipe/log.py, whoever prints: the token when it is built, a runner's
    OAuth secret when its registration answers (not a mask of the client's own, nor one in a command)."""
    redaction.forget_secrets()
    token = "token-" + "Zq8Wv3Lm5Tn1"
    bitbucket.add_token(token)
    try:
        c = client(bitbucket, Auth(access_token=token))
        reg = c.create_runner("cml-1", ["self.hosted"])
        assert redaction.redact(f"{token} {reg.oauth_client_secret}") == f"{redaction.MASK} {redaction.MASK}"
        assert redaction.redact_fields({"oauth_client": {"secret": "anything"}, "q": reg.oauth_client_secret}) == {
            "oauth_client": {"secret": redaction.MASK},
            "q": redaction.MASK,
        }
    finally:
        redaction.forget_secrets()


LIST_RUNNERS = "GET /repositories/{workspace}/{repo_slug}/pipelines-config/runners"


def test_runners_paginate_across_pages_of_the_largest_size(
    bitbucket: FakeBitbucket, bb_client: BitbucketClient
) -> None:
    seeded = bitbucket.seed_runners(230, labels=["self.hosted"])
    before = bitbucket.request_count(LIST_RUNNERS)
    names = [r.name for r in bb_client.list_runners()]
    assert sorted(names) == sorted(r.name for r in seeded)
    # pagelen 100, the most the listing serves: three pages followed through `next`, not 23 of the default 10.
    assert bitbucket.request_count(LIST_RUNNERS) - before == 3


def test_runner_pages_are_fetched_only_when_asked_for(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    bitbucket.seed_runners(250, labels=["self.hosted"])
    before = bitbucket.request_count(LIST_RUNNERS)
    pages = bb_client.runner_pages()
    first, more = next(pages)
    assert (len(first), more) == (100, True)
    assert bitbucket.request_count(LIST_RUNNERS) - before == 1
    assert [(len(page), more) for page, more in pages] == [(100, True), (50, False)]
    assert bitbucket.request_count(LIST_RUNNERS) - before == 3


def test_runners_named_reads_pages_of_100_only_up_to_the_one_holding_the_name(
    bitbucket: FakeBitbucket, bb_client: BitbucketClient
) -> None:
    """The lost-registration recovery finds the runner by name: the listing has no filter, so it pages at 100
    and stops at the page that holds it; only a name that is nowhere costs every page."""
    bitbucket.seed_runners(150, labels=["self.hosted"], prefix="team")
    [lost] = bitbucket.seed_runners(1, labels=["self.hosted", "cml.runner.pipe"], prefix="cml-lost")  # page 2
    bitbucket.seed_runners(400, labels=["self.hosted"], prefix="more")
    before = bitbucket.request_count(LIST_RUNNERS)
    [found] = bb_client.runners_named(lost.name, ["cml.runner.pipe", "self.hosted"])
    assert found.uuid == lost.uuid
    assert bitbucket.request_count(LIST_RUNNERS) - before == 2  # pages 3-6 are never asked for
    assert bb_client.runners_named(lost.name, ["self.hosted"]) == []  # same name, other labels: not ours
    assert bitbucket.request_count(LIST_RUNNERS) - before == 2 + 6


def test_every_runner_page_is_checked_its_next_link_and_its_runners(bitbucket: FakeBitbucket) -> None:
    """sec's rules hold on scale's paged listing: a later page's next link to another origin is refused before
    anything is sent there, and a page holding a malformed runner is one UnexpectedAnswer naming the call."""
    from fakes.trap import Trap

    from pipe.bitbucket.errors import UnexpectedAnswer

    bitbucket.seed_runners(150, labels=["self.hosted"])
    listing = r"/pipelines-config/runners$"
    with Trap() as trap:
        bitbucket.add_fault("body", status=200, method="GET", path=listing, after=1, times=1,
                            body=json.dumps({"values": [], "next": f"{trap.url}/2.0/steal?page=3"}))  # fmt: skip
        pages = client(bitbucket).runner_pages()
        assert len(next(pages)[0]) == 100  # page 1, from the local Bitbucket
        assert next(pages) == ([], True)  # page 2 points elsewhere: not followed...
        with pytest.raises(UnexpectedAnswer, match=r"localhost.*refused"):
            next(pages)  # ...when page 3 is asked for
        assert trap.requests == []
    bitbucket.add_fault("body", status=200, method="GET", path=listing, after=1, times=1,
                        body=json.dumps({"values": [{"name": "no-uuid", "labels": []}]}))  # fmt: skip
    with pytest.raises(UnexpectedAnswer, match=r"^Bitbucket API GET /repositories/acme/ml-seeds/pipelines-config/"):
        client(bitbucket).list_runners()


def test_the_local_listing_serves_up_to_100_and_refuses_more_as_bitbucket_does(bitbucket: FakeBitbucket) -> None:
    bitbucket.seed_runners(150, labels=["self.hosted"])
    url = f"{bitbucket.url}/repositories/acme/ml-seeds/pipelines-config/runners"
    auth = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    assert len(requests.get(url, params={"pagelen": 100}, headers=auth, timeout=5).json()["values"]) == 100
    assert len(requests.get(url, headers=auth, timeout=5).json()["values"]) == 10  # the default
    refused = requests.get(url, params={"pagelen": 101}, headers=auth, timeout=5)
    assert (refused.status_code, refused.json()["error"]["message"]) == (400, "Invalid pagelen")
    assert bitbucket.violations == []


# --- comments


def test_pr_comments_create_update_list_paginated(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    pr = _open_pr(bb_client)
    created = [bb_client.create_pr_comment(pr, f"c{i}") for i in range(120)]
    assert created[0].author_uuid == bitbucket.bot.uuid and created[0].html_url.endswith(f"#comment-{created[0].id}")
    edited = bb_client.update_pr_comment(pr, created[5].id, "edited")
    assert edited.raw == "edited" and edited.id == created[5].id
    listed = list(bb_client.list_pr_comments(pr))
    assert len(listed) == 120 and listed[5].raw == "edited"
    assert (
        bitbucket.request_count("GET /repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/comments")
        == 2
    )


def test_cannot_edit_someone_elses_comment(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    pr = _open_pr(bb_client)
    other = bitbucket.add_user("Alice", "alice")
    bitbucket.add_token("alice-token", user=other)
    theirs = client(bitbucket, Auth(access_token="alice-token")).create_pr_comment(pr, "mine")
    with pytest.raises(BitbucketError, match="403"):
        bb_client.update_pr_comment(pr, theirs.id, "overwritten")
    assert bitbucket.repo().comments[theirs.id].raw == "mine"


def test_commit_comments(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    head = bitbucket.repo().branches["main"]
    c = bb_client.create_commit_comment(head, "report v1")
    assert c.raw == "report v1" and c.author_uuid == bitbucket.bot.uuid
    assert bb_client.update_commit_comment(head, c.id, "report v2").raw == "report v2"
    assert [x.raw for x in bb_client.list_commit_comments(head)] == ["report v2"]


# --- source


def test_commit_files_keeps_the_tree_and_history(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    main = bb_client.branch_head("main")
    assert main is not None
    assert bb_client.branch_head("cml/none") is None
    new = bb_client.commit_files(
        branch="cml/pr-1",
        parent=main,
        message="Add model",
        author="CML <cml@example.com>",
        files={"models/model.bin": b"\x00\xffweights", "metrics/metrics.json": b'{"acc": 0.9}'},
    )
    assert bb_client.branch_head("cml/pr-1") == new
    assert bb_client.branch_head("main") == main  # a new branch does not move main
    commit = bitbucket.repo().commits[new]
    assert commit.parents == [main] and commit.message == "Add model" and commit.author == "CML <cml@example.com>"
    assert set(commit.tree) == {"README.md", "models/model.bin", "metrics/metrics.json"}
    assert bb_client.get_file(new, "models/model.bin") == b"\x00\xffweights"
    assert bb_client.get_file(new, "README.md") == bitbucket.repo().commits[main].tree["README.md"]
    assert bb_client.get_file(main, "models/model.bin") is None
    second = bb_client.commit_files(
        branch="cml/pr-1", parent=new, message="again", author="CML <cml@example.com>", files={"a.txt": b"a"}
    )
    assert bitbucket.repo().commits[second].parents == [new]


def test_commit_files_on_a_moved_branch_fails(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    main = bb_client.branch_head("main")
    assert main
    bb_client.commit_files(branch="main", parent=main, message="m", author="a <a@b>", files={"x": b"1"})
    with pytest.raises(BitbucketError, match="409"):
        bb_client.commit_files(branch="main", parent=main, message="m", author="a <a@b>", files={"x": b"2"})


# --- pull requests


def _open_pr(c: BitbucketClient, branch: str = "cml/pr") -> int:
    main = c.branch_head("main")
    assert main
    c.commit_files(branch=branch, parent=main, message="train", author="CML <c@x>", files={"m.bin": b"1"})
    return c.create_pull_request(
        title="Model", description="Trained", source_branch=branch, destination_branch="main", close_source_branch=True
    ).id


def test_pull_requests_list_get_by_commit(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    pr_id = _open_pr(bb_client)
    _open_pr(bb_client, "other")
    pr = bb_client.get_pull_request(pr_id)
    assert (pr.title, pr.description, pr.state, pr.source_branch, pr.destination_branch) == (
        "Model",
        "Trained",
        "OPEN",
        "cml/pr",
        "main",
    )
    assert pr.source_commit == bitbucket.repo().branches["cml/pr"]
    assert [p.id for p in bb_client.list_pull_requests(source_branch="cml/pr")] == [pr_id]
    assert len(list(bb_client.list_pull_requests())) == 2
    assert list(bb_client.list_pull_requests(source_branch="cml/pr", state="MERGED")) == []
    assert [p.id for p in bb_client.pull_requests_for_commit(pr.source_commit)] == [pr_id]
    assert bb_client.pull_requests_for_commit(bitbucket.repo().branches["main"]) == []


def test_pull_requests_for_commit_while_indexing(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    pr_id = _open_pr(bb_client)
    head = bitbucket.repo().branches["cml/pr"]
    bitbucket.repo().indexing_pending = 2
    assert [p.id for p in bb_client.pull_requests_for_commit(head)] == [pr_id]
    bitbucket.repo().indexing_pending = 100
    assert bb_client.pull_requests_for_commit(head) == []  # bounded: gives up, treats as none


@pytest.mark.parametrize("strategy", ["merge_commit", "squash", "fast_forward"])
def test_merge_strategies(bitbucket: FakeBitbucket, bb_client: BitbucketClient, strategy: str) -> None:
    pr_id = _open_pr(bb_client)
    source = bitbucket.repo().branches["cml/pr"]
    merged = bb_client.merge_pull_request(pr_id, strategy=strategy, message="Merge model")  # type: ignore[arg-type]
    assert merged.state == "MERGED"
    head = bitbucket.repo().commits[bitbucket.repo().branches["main"]]
    assert head.tree["m.bin"] == b"1"
    assert "cml/pr" not in bitbucket.repo().branches  # close_source_branch
    if strategy == "fast_forward":
        assert head.hash == source
    else:
        assert head.message == "Merge model" and (source in head.parents) == (strategy == "merge_commit")


def test_fast_forward_refused_when_destination_moved(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    pr_id = _open_pr(bb_client)
    main = bb_client.branch_head("main")
    assert main
    bb_client.commit_files(branch="main", parent=main, message="moved", author="a <a@b>", files={"z": b"z"})
    with pytest.raises(BitbucketError, match=r"refused to merge pull request #\d+ with fast_forward \(409\)"):
        bb_client.merge_pull_request(pr_id, strategy="fast_forward")
    assert bb_client.get_pull_request(pr_id).state == "OPEN"


def test_refuse_merges_switch(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    pr_id = _open_pr(bb_client)
    bitbucket.repo().refuse_merges = "Merge checks failed: 1 approval required"
    with pytest.raises(BitbucketError, match="1 approval required"):
        bb_client.merge_pull_request(pr_id, strategy="merge_commit")


# --- downloads and Code Insights


def test_downloads(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    d = bb_client.upload_download("model-v1.bin", b"\x00" * 1000)
    assert d.name == "model-v1.bin" and d.size == 1000 and d.html_url.endswith("/acme/ml-seeds/downloads/model-v1.bin")
    for i in range(12):
        bb_client.upload_download(f"f{i}.txt", b"x")
    listed = {x.name: x for x in bb_client.list_downloads()}
    assert len(listed) == 13 and listed["model-v1.bin"].size == 1000
    assert bitbucket.repo().downloads["model-v1.bin"].content == b"\x00" * 1000
    # GET .../downloads/{name} redirects to the content (as Bitbucket redirects to its storage)
    body = bb_client.http.request("GET", "/repositories/acme/ml-seeds/downloads/model-v1.bin").content
    assert body == b"\x00" * 1000


def test_code_insights_report_and_annotations(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    head = bitbucket.repo().branches["main"]
    data = [ReportData("Accuracy", "PERCENTAGE", 93.5), ReportData("Run", "LINK", {"text": "x", "href": "http://e/x"})]
    bb_client.put_report(head, "cml-report", title="CML", details="Training", result="PASSED", data=data)
    bb_client.put_report(head, "cml-report", title="CML v2", details="Training", result="FAILED")
    report = bitbucket.repo().reports[(head, "cml-report")]
    assert report["title"] == "CML v2" and report["result"] == "FAILED" and report["report_type"] == "TEST"
    anns = [{"external_id": f"a{i}", "annotation_type": "BUG", "summary": f"s{i}"} for i in range(150)]
    bb_client.add_annotations(head, "cml-report", anns)
    assert len(bitbucket.repo().annotations[(head, "cml-report")]) == 150
    assert (
        bitbucket.request_count(
            "POST /repositories/{workspace}/{repo_slug}/commit/{commit}/reports/{reportId}/annotations"
        )
        == 2
    )  # chunks of 100


def test_invalid_report_is_a_400_with_bitbuckets_message(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    head = bitbucket.repo().branches["main"]
    with pytest.raises(BitbucketError, match=r"\(400\): report_type must be one of"):
        bb_client.put_report(head, "r", title="t", details="d", report_type="NOPE")


def test_request_count_counts_every_request(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    bb_client.repository()
    bb_client.list_runners()
    assert bb_client.request_count == 2 == bitbucket.request_count()


def test_403_without_details_names_the_scopes_from_the_spec_table(bitbucket: FakeBitbucket) -> None:
    bitbucket.add_fault("status", status=403, times=1)
    with pytest.raises(BitbucketError) as err:
        client(bitbucket).create_runner("r", ["self.hosted"])
    assert "lacks scope write:runner:bitbucket and read:runner:bitbucket" in str(err.value)


def test_404_on_a_pull_request_does_not_blame_the_repository(bb_client: BitbucketClient) -> None:
    with pytest.raises(BitbucketError) as err:
        bb_client.get_pull_request(42)
    assert "Pull request not found" in str(err.value) and "BITBUCKET_REPO_SLUG" not in str(err.value)


def test_the_client_reads_bitbucket_rate_limit_headers(bitbucket: FakeBitbucket, bb_client: BitbucketClient) -> None:
    bitbucket.hourly_limit = 1000
    bb_client.list_runners()
    assert (bb_client.rate_limit.limit, bb_client.rate_limit.near_limit) == (1000, False)
    bitbucket.rate_used = 850  # under 20% left
    bb_client.repository()
    assert bb_client.rate_limit.near_limit
    bitbucket.rate_used = 1000  # the hour's limit is used: 429 "Rate limit for this resource has been exceeded"
    with pytest.raises(BitbucketError, match="429"):
        bb_client.repository()
    assert bb_client.rate_limit.throttled == 4  # the first try and its 3 retries


def test_disabling_a_runner_that_is_gone_is_not_an_error(bb_client: BitbucketClient) -> None:
    assert bb_client.set_runner_state("{00000000-0000-4000-8000-000000000000}", "DISABLED") is None

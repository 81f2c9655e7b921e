"""The Bitbucket Cloud API routes the fake serves. Each declares its spec path template and every status
its handler can return; ``test_bitbucket_conformance`` holds both to the spec."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fakes.bitbucket.routing import ApiError, InvalidPagelen, Reply, route
from fakes.bitbucket.state import (
    CommentState,
    DownloadState,
    PullRequestState,
    Repo,
    RunnerState,
    new_uuid,
    now,
)
from pipe.bitbucket.source import SRC_MAX_COMMIT_BYTES

if TYPE_CHECKING:
    from fakes.bitbucket.server import Ctx

R = "/repositories/{workspace}/{repo_slug}"
WS_RUNNERS = "/workspaces/{workspace}/pipelines-config/runners"
REPO_RUNNERS = R + "/pipelines-config/runners"


def page(
    ctx: Ctx,
    items: Sequence[Any],
    default_pagelen: int = 10,
    max_pagelen: int = 100,
    render: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Bitbucket's paginated envelope; ``next`` is built from the request's Host. Only the page's own items
    are rendered (``render``), so listing thousands of runners costs one page's work per request.

    A ``pagelen`` above the collection's maximum (100 for most, per the spec's paginated_* schemas; 50
    for pull requests) is refused as Bitbucket does: 400 {"error": {"message": "Invalid pagelen"}}
    (reported in jenkinsci/bitbucket-branch-source-plugin#1182 and gratipay/gratipay.com#788), as is a
    negative one (codacy/bitbucket-scala-client#53). 0 is answered with the default."""
    try:
        asked = int(ctx.q("pagelen", str(default_pagelen)))
        number = max(1, int(ctx.q("page", "1")))
    except ValueError as exc:
        raise ApiError(400, "page and pagelen must be integers") from exc
    if asked > max_pagelen or asked < 0:
        raise InvalidPagelen(400, "Invalid pagelen")
    pagelen = asked or default_pagelen
    start = (number - 1) * pagelen
    chosen = items[start : start + pagelen]
    out: dict[str, Any] = {
        "pagelen": pagelen,
        "size": len(items),
        "page": number,
        "values": [render(item) for item in chosen] if render else list(chosen),
    }
    if start + pagelen < len(items):
        query = {k: v[0] for k, v in ctx.query.items()}
        query["page"] = str(number + 1)
        out["next"] = f"{ctx.base}/2.0{ctx.path}?{urlencode(query)}"
    if number > 1:
        query = {k: v[0] for k, v in ctx.query.items()}
        query["page"] = str(number - 1)
        out["previous"] = f"{ctx.base}/2.0{ctx.path}?{urlencode(query)}"
    return out


# --- user and repository


@route("GET", "/user", {200})
def get_user(ctx: Ctx) -> Reply:
    return Reply(200, ctx.user.json(ctx.base))


@route("GET", R, {200, 404})
def get_repository(ctx: Ctx) -> Reply:
    return Reply(200, ctx.repo().json(ctx.base))


# --- runners (repository and workspace)


# Bitbucket's runner label rule, as its runner UI enforces it (../shared/CONTRACT-NOTES.md, LABELS, corrected;
# docs/sources.md): lowercase letters and digits in dot-separated parts, at most 50 characters (the pipelines
# schema's runs_on_item), at most 10 custom labels besides self.hosted and linux, none under linux., bitbucket.,
# atlassian. The real API's error body for a bad label is not documented: this answers in the spec's `error` shape.
_LABEL = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")
_SYSTEM_LABELS = ("self.hosted", "linux")
_RESERVED_PREFIXES = ("linux.", "bitbucket.", "atlassian.")
MAX_CUSTOM_LABELS = 10


def check_runner_labels(labels: list[str]) -> None:
    for label in labels:
        if len(label) > 50 or not _LABEL.match(label):
            raise ApiError(400, f"Invalid runner label '{label}': use lowercase letters and digits in "
                           "dot-separated parts")  # fmt: skip
        if label not in _SYSTEM_LABELS and label.startswith(_RESERVED_PREFIXES):
            raise ApiError(400, f"Invalid runner label '{label}': its prefix is reserved")
    custom = {label for label in labels if label not in _SYSTEM_LABELS}
    if len(custom) > MAX_CUSTOM_LABELS:
        raise ApiError(400, f"A runner can have at most {MAX_CUSTOM_LABELS} custom labels; {len(custom)} given")


def _runners(ctx: Ctx) -> dict[str, RunnerState]:
    return (
        ctx.workspace().runners if ctx.route and ctx.route.template.startswith("/workspaces/") else ctx.repo().runners
    )


def _find_runner(ctx: Ctx) -> RunnerState:
    runner = _runners(ctx).get(ctx.params["runner_uuid"])
    if runner is None:
        raise ApiError(404, f"Runner {ctx.params['runner_uuid']} not found")
    return runner


def list_runners(ctx: Ctx) -> Reply:
    runners = list(_runners(ctx).values())
    return Reply(200, page(ctx, runners, default_pagelen=10, max_pagelen=100, render=lambda r: r.json(ctx.base)))


def create_runner(ctx: Ctx) -> Reply:
    runners = _runners(ctx)
    data = ctx.json()
    name = data.get("name") if isinstance(data, dict) else None
    labels = data.get("labels", []) if isinstance(data, dict) else []
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "A runner needs a name")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ApiError(400, "labels must be a list of strings")
    check_runner_labels(labels)
    uuid = data.get("uuid") or new_uuid()
    if uuid in runners:
        raise ApiError(409, f"A runner with UUID {uuid} already exists")
    stamp = now()
    runner = RunnerState(
        uuid=uuid,
        name=name,
        labels=list(labels),
        oauth_client_id=secrets.token_urlsafe(24),
        oauth_client_secret=secrets.token_urlsafe(48),
        created_on=stamp,
        updated_on=stamp,
    )
    if ctx.fake.connect_on_register:  # the VM boots in no time: ONLINE at the first status poll
        runner.connected = runner.ever_connected = True
    runners[uuid] = runner
    return Reply(200, runner.json(ctx.base, with_secret=True))


def get_runner(ctx: Ctx) -> Reply:
    return Reply(200, _find_runner(ctx).json(ctx.base))


def update_runner(ctx: Ctx) -> Reply:
    runner = _find_runner(ctx)
    data = ctx.json()
    if isinstance(data, dict):
        state = data.get("state")
        if isinstance(state, dict) and state.get("status") in ("ENABLED", "DISABLED"):
            runner.enabled = state["status"] == "ENABLED"
        if isinstance(data.get("name"), str):
            runner.name = data["name"]
        if isinstance(data.get("labels"), list):
            runner.labels = [str(x) for x in data["labels"]]
    runner.updated_on = now()
    return Reply(200, runner.json(ctx.base))


def delete_runner(ctx: Ctx) -> Reply:
    runners = _runners(ctx)
    _find_runner(ctx)
    del runners[ctx.params["runner_uuid"]]
    return Reply(204)


for _base in (REPO_RUNNERS, WS_RUNNERS):
    route("GET", _base, {200})(list_runners)
    route("POST", _base, {200, 400, 409})(create_runner)
    route("GET", _base + "/{runner_uuid}", {200, 404})(get_runner)
    route("PUT", _base + "/{runner_uuid}", {200, 404})(update_runner)
    route("DELETE", _base + "/{runner_uuid}", {204, 404})(delete_runner)


# --- source: branches, commits, src


@route("GET", R + "/refs/branches", {200, 404})
def list_branches(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    names = sorted(repo.branches)
    q = ctx.q("q")
    if q.startswith("name") and "=" in q:
        wanted = q.split("=", 1)[1].strip().strip('"')
        names = [n for n in names if (n == wanted if "~" not in q else wanted in n)]
    return Reply(200, page(ctx, [repo.branch_json(ctx.base, n) for n in names]))


@route("GET", R + "/refs/branches/{name}", {200, 404})
def get_branch(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    name = ctx.params["name"]
    if name not in repo.branches:
        raise ApiError(404, f"Branch not found: {name}")
    return Reply(200, repo.branch_json(ctx.base, name))


@route("GET", R + "/commit/{commit}", {200, 404})
def get_commit(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    if commit is None:
        raise ApiError(404, f"Commit not found: {ctx.params['commit']}")
    out = commit.json(ctx.base, repo)
    out["repository"] = repo.json(ctx.base, brief=True)
    return Reply(200, out)


_SRC_META = {"message", "author", "parents", "branch", "files"}


@route("POST", R + "/src", {201, 404}, described={409})
def create_commit(ctx: Ctx) -> Reply:
    """POST /src: the rules of the spec's description (branch, parents, files deletions, 409 on a stale parent)."""
    repo = ctx.repo()
    meta: dict[str, list[str]] = {}
    uploads: dict[str, bytes] = {}
    for name, value, filename in ctx.form():
        if filename is None and name in _SRC_META:
            meta.setdefault(name, []).append(value.decode())
        else:
            uploads[name.lstrip("/")] = value
    if sum(len(data) for data in uploads.values()) > SRC_MAX_COMMIT_BYTES:
        # What Bitbucket Cloud does with an oversize /src upload (BCLOUD-17993): a bare 500.
        raise ApiError(500, "Internal Server Error")
    branch = (meta.get("branch") or [""])[0]
    parents = [p for p in (meta.get("parents") or []) if p]
    message = (meta.get("message") or ["Edited online with Bitbucket"])[0]
    author = (meta.get("author") or [f"{ctx.user.display_name} <{ctx.user.email or 'noreply@example.com'}>"])[0]
    deletes = {p.lstrip("/") for p in meta.get("files", [])} - set(uploads)
    target = branch or repo.main_branch
    parent_hash: str | None = None
    if parents:
        parent = repo.resolve(parents[0])
        if parent is None:
            raise ApiError(404, f"Parent commit not found: {parents[0]}")
        parent_hash = parent.hash
    if target in repo.branches:
        if parent_hash is not None and parent_hash != repo.branches[target]:
            raise ApiError(409, f"The parent {parent_hash[:12]} is not the tip of {target}; the branch has moved")
        parent_hash = repo.branches[target]
    elif parent_hash is None and repo.branches:
        parent_hash = repo.branches[repo.main_branch]
    tree = dict(repo.commits[parent_hash].tree) if parent_hash else {}
    tree.update(uploads)
    for path in deletes:
        tree.pop(path, None)
    commit = repo.add_commit([parent_hash] if parent_hash else [], message, author, tree)
    repo.push(target, commit.hash)
    if not branch and not parent_hash:
        repo.main_branch = target
    location = f"{ctx.base}/2.0/repositories/{repo.full_name}/commit/{commit.hash}"
    return Reply(201, None, {"Location": location})


@route("GET", R + "/src/{commit}/{path}", {200, 404})
def get_src(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    if commit is None:
        raise ApiError(404, f"Commit not found: {ctx.params['commit']}")
    path = ctx.params["path"].strip("/")
    if path in commit.tree:
        return Reply(200, commit.tree[path], content_type="application/octet-stream")
    prefix = path + "/" if path else ""
    children = sorted({p[len(prefix) :].split("/", 1)[0] for p in commit.tree if p.startswith(prefix)})
    if not children:
        raise ApiError(404, f"No such file or directory: {path}")
    entries = []
    for child in children:
        full = prefix + child
        if full in commit.tree:
            entries.append({"type": "commit_file", "path": full, "size": len(commit.tree[full])})
        else:
            entries.append({"type": "commit_directory", "path": full})
    return Reply(200, page(ctx, entries))


# --- comments


def _comment_json_body(ctx: Ctx) -> str | None:
    data = ctx.json()
    content = data.get("content") if isinstance(data, dict) else None
    raw = content.get("raw") if isinstance(content, dict) else None
    return raw if isinstance(raw, str) else None


def _pull(ctx: Ctx, repo: Repo) -> PullRequestState:
    try:
        pr = repo.pulls.get(int(ctx.params["pull_request_id"]))
    except ValueError:
        pr = None
    if pr is None:
        raise ApiError(404, f"Pull request not found: {ctx.params['pull_request_id']}")
    return pr


@route("GET", R + "/pullrequests/{pull_request_id}/comments", {200, 404})
def list_pr_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    pr = _pull(ctx, repo)
    items = [c.json(ctx.base, repo) for c in repo.comments.values() if c.pr_id == pr.id]
    return Reply(200, page(ctx, items))


@route("POST", R + "/pullrequests/{pull_request_id}/comments", {201, 404})
def create_pr_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    pr = _pull(ctx, repo)
    raw = _comment_json_body(ctx) or ""
    stamp = now()
    c = CommentState(ctx.fake.next_comment_id(), raw, ctx.user, stamp, stamp, pr_id=pr.id)
    repo.comments[c.id] = c
    body = c.json(ctx.base, repo)
    return Reply(201, body, {"Location": body["links"]["self"]["href"]})


def _own_comment(ctx: Ctx, repo: Repo, missing_status: int, **where: Any) -> CommentState:
    try:
        c = repo.comments.get(int(ctx.params["comment_id"]))
    except ValueError:
        c = None
    if c is None or any(getattr(c, k) != v for k, v in where.items()):
        raise ApiError(missing_status, f"Comment not found: {ctx.params['comment_id']}")
    if c.user.uuid != ctx.user.uuid:
        raise ApiError(403, "You can only edit your own comments.")
    return c


@route("PUT", R + "/pullrequests/{pull_request_id}/comments/{comment_id}", {200, 404})
def update_pr_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    pr = _pull(ctx, repo)
    c = _own_comment(ctx, repo, 404, pr_id=pr.id)
    raw = _comment_json_body(ctx)
    if raw is not None:
        c.raw = raw
        c.updated_on = now()
    return Reply(200, c.json(ctx.base, repo))


@route("GET", R + "/commit/{commit}/comments", {200})
def list_commit_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    items = [c.json(ctx.base, repo) for c in repo.comments.values() if commit and c.commit == commit.hash]
    return Reply(200, page(ctx, items))


@route("POST", R + "/commit/{commit}/comments", {201, 400, 404})
def create_commit_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    if commit is None:
        raise ApiError(404, f"Commit not found: {ctx.params['commit']}")
    raw = _comment_json_body(ctx)
    if raw is None:
        raise ApiError(400, "content.raw is required")
    stamp = now()
    c = CommentState(ctx.fake.next_comment_id(), raw, ctx.user, stamp, stamp, commit=commit.hash)
    repo.comments[c.id] = c
    body = c.json(ctx.base, repo)
    return Reply(201, body, {"Location": body["links"]["self"]["href"]})


@route("PUT", R + "/commit/{commit}/comments/{comment_id}", {201, 400})
def update_commit_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    # The spec lists no 404 here: an unknown comment is a bad request.
    c = _own_comment(ctx, repo, 400, commit=commit.hash if commit else None)
    raw = _comment_json_body(ctx)
    if raw is None:
        raise ApiError(400, "content.raw is required")
    c.raw = raw
    c.updated_on = now()
    body = c.json(ctx.base, repo)
    return Reply(201, body, {"Location": body["links"]["self"]["href"]})


# --- pull requests


def _bbql_source_branch(q: str) -> str | None:
    """The one BBQL filter the fake understands: source.branch.name = "x"."""
    if not q:
        return None
    left, sep, right = q.partition("=")
    if not sep or left.strip() != "source.branch.name":
        raise ApiError(400, f"Unsupported query: {q}")
    value = right.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


@route("GET", R + "/pullrequests", {200, 404})
def list_pull_requests(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    states = {s.upper() for s in ctx.query.get("state", [])} or {"OPEN"}
    try:
        source = _bbql_source_branch(ctx.q("q"))
    except ApiError as exc:
        raise ApiError(404, exc.message) from exc  # the spec lists no 400 for this operation
    items = [
        pr.json(ctx.base, repo)
        for pr in sorted(repo.pulls.values(), key=lambda p: -p.id)
        if pr.state in states and (source is None or pr.source_branch == source)
    ]
    return Reply(200, page(ctx, items, default_pagelen=10, max_pagelen=50))


@route("POST", R + "/pullrequests", {201, 400})
def create_pull_request(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    data = ctx.json()
    if not isinstance(data, dict) or not data.get("title"):
        raise ApiError(400, "title: This field is required.")
    source = (((data.get("source") or {}).get("branch") or {}).get("name")) or ""
    dest = (((data.get("destination") or {}).get("branch") or {}).get("name")) or repo.main_branch
    if source not in repo.branches:
        raise ApiError(400, f"source: Branch not found: {source}")
    if dest not in repo.branches:
        raise ApiError(400, f"destination: Branch not found: {dest}")
    if source == dest:
        raise ApiError(400, "You can't create a pull request from a branch to itself.")
    for pr in repo.pulls.values():
        if pr.state == "OPEN" and pr.source_branch == source and pr.destination_branch == dest:
            raise ApiError(400, f"There are already open pull requests from {source} to {dest}.")
    stamp = now()
    pr = PullRequestState(
        id=ctx.fake.next_pr_id(),
        title=str(data["title"]),
        description=str(data.get("description") or ""),
        source_branch=source,
        destination_branch=dest,
        author=ctx.user,
        close_source_branch=bool(data.get("close_source_branch", False)),
        created_on=stamp,
        updated_on=stamp,
        destination_base=repo.branches[dest],
    )
    repo.pulls[pr.id] = pr
    body = pr.json(ctx.base, repo)
    return Reply(201, body, {"Location": body["links"]["self"]["href"]})


@route("GET", R + "/pullrequests/{pull_request_id}", {200, 404})
def get_pull_request(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    return Reply(200, _pull(ctx, repo).json(ctx.base, repo))


@route("POST", R + "/pullrequests/{pull_request_id}/merge", {200, 409})
def merge_pull_request(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    pr = _pull(ctx, repo)  # 404 is not in this operation's list; the fake never merges unknown ids
    data = ctx.json()
    strategy = (data.get("merge_strategy") if isinstance(data, dict) else None) or "merge_commit"
    message = (
        data.get("message") if isinstance(data, dict) else None
    ) or f"Merged in {pr.source_branch} (pull request #{pr.id})"
    if pr.state != "OPEN":
        raise ApiError(409, f"The pull request is {pr.state.lower()} and cannot be merged")
    if repo.refuse_merges:
        raise ApiError(409, repo.refuse_merges)
    source_head = repo.branches.get(pr.source_branch)
    dest_head = repo.branches.get(pr.destination_branch)
    if source_head is None or dest_head is None:
        raise ApiError(409, "One of the branches of this pull request no longer exists")
    src, dst = repo.commits[source_head], repo.commits[dest_head]
    if strategy == "fast_forward":
        if dest_head not in repo.ancestors(source_head):
            raise ApiError(409, f"{pr.destination_branch} has moved: this pull request cannot be fast-forwarded")
        new_head = source_head
    elif strategy in ("merge_commit", "squash"):
        tree = dict(dst.tree)
        tree.update(src.tree)
        parents = [dest_head, source_head] if strategy == "merge_commit" else [dest_head]
        author = f"{ctx.user.display_name} <{ctx.user.email or 'noreply@example.com'}>"
        new_head = repo.add_commit(parents, message, author, tree).hash
    else:
        raise ApiError(409, f"Merge strategy {strategy} is not allowed on this repository")
    repo.push(pr.destination_branch, new_head)
    pr.state, pr.source_commit_at_close, pr.merge_commit = "MERGED", source_head, new_head
    pr.closed_by, pr.updated_on = ctx.user, now()
    if pr.close_source_branch or (isinstance(data, dict) and data.get("close_source_branch")):
        repo.branches.pop(pr.source_branch, None)
    return Reply(200, pr.json(ctx.base, repo))


@route("GET", R + "/commit/{commit}/pullrequests", {200, 202, 404})
def commit_pull_requests(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    if repo.indexing_pending > 0:
        repo.indexing_pending -= 1
        return Reply(202, page(ctx, []))
    commit = repo.resolve(ctx.params["commit"])
    if commit is None:
        raise ApiError(404, f"Commit not found: {ctx.params['commit']}")
    found = []
    for pr in sorted(repo.pulls.values(), key=lambda p: p.id):
        tip = pr.source_commit(repo)
        if tip and commit.hash in repo.ancestors(tip) and commit.hash not in repo.ancestors(pr.destination_base):
            found.append(pr.json(ctx.base, repo))
    return Reply(200, page(ctx, found))


# --- downloads


def _download_json(ctx: Ctx, repo: Repo, d: DownloadState) -> dict[str, Any]:
    return {
        "type": "download",
        "name": d.name,
        "size": len(d.content),
        "downloads": d.downloads,
        "created_on": d.created_on,
        "user": d.user.json(ctx.base),
        "links": {"self": {"href": f"{ctx.base}/2.0/repositories/{repo.full_name}/downloads/{quote(d.name)}"}},
    }


@route("GET", R + "/downloads", {200})
def list_downloads(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    items = [
        _download_json(ctx, repo, d) for d in sorted(repo.downloads.values(), key=lambda d: d.created_on, reverse=True)
    ]
    return Reply(200, page(ctx, items))


@route("POST", R + "/downloads", {201, 400, 406})
def upload_downloads(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    if not ctx.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(406, "Unsupported Content-Type. Use multipart/form-data.")
    files = [(v, fn) for name, v, fn in ctx.form() if name == "files" and fn]
    if not files:
        raise ApiError(400, "No files were uploaded: send them in the multipart field 'files'")
    for content, filename in files:
        assert filename is not None
        repo.downloads[filename] = DownloadState(filename, content, ctx.user, now())
    return Reply(201)


@route("GET", R + "/downloads/{filename}", {302, 404})
def get_download(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    name = ctx.params["filename"]
    if name not in repo.downloads:
        raise ApiError(404, f"No download named {name}")
    target = f"{ctx.base}/_fake/storage/{quote(repo.workspace.slug)}/{quote(repo.slug)}/{quote(name)}"
    return Reply(302, None, {"Location": target})


# --- Code Insights

_REPORT_TYPES = {"SECURITY", "COVERAGE", "TEST", "BUG"}
_RESULTS = {"PASSED", "FAILED", "PENDING"}
_DATA_TYPES = {"BOOLEAN", "DATE", "DURATION", "LINK", "NUMBER", "PERCENTAGE", "TEXT"}


@route("PUT", R + "/commit/{commit}/reports/{reportId}", {200, 400})
def put_report(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    if commit is None:
        raise ApiError(400, f"Commit not found: {ctx.params['commit']}")  # no 404 in the spec's list
    data = ctx.json()
    if not isinstance(data, dict):
        raise ApiError(400, "A report must be a JSON object")
    for required in ("title", "details", "report_type"):
        if not data.get(required):
            raise ApiError(400, f"{required}: This field is required.")
    if data["report_type"] not in _REPORT_TYPES:
        raise ApiError(400, f"report_type must be one of {sorted(_REPORT_TYPES)}")
    if data.get("result") is not None and data["result"] not in _RESULTS:
        raise ApiError(400, f"result must be one of {sorted(_RESULTS)}")
    items = data.get("data") or []
    if not isinstance(items, list) or len(items) > 10:
        raise ApiError(400, "data: at most 10 elements")
    for item in items:
        if not isinstance(item, dict) or item.get("type") not in _DATA_TYPES or "title" not in item:
            raise ApiError(400, f"data: invalid element {item!r}")
    key = (commit.hash, ctx.params["reportId"])
    previous = repo.reports.get(key)
    stamp = now()
    report = {
        "type": "report",
        "uuid": previous["uuid"] if previous else new_uuid(),
        "external_id": ctx.params["reportId"],
        "title": data["title"],
        "details": data["details"],
        "report_type": data["report_type"],
        "reporter": data.get("reporter", ""),
        "data": items,
        "created_on": previous["created_on"] if previous else stamp,
        "updated_on": stamp,
    }
    for optional in ("result", "link", "logo_url"):
        if data.get(optional):
            report[optional] = data[optional]
    repo.reports[key] = report
    repo.annotations.setdefault(key, {})
    return Reply(200, report)


@route("GET", R + "/commit/{commit}/reports/{reportId}", {200, 404})
def get_report(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    report = repo.reports.get((commit.hash if commit else "", ctx.params["reportId"]))
    if report is None:
        raise ApiError(404, "Report not found")
    return Reply(200, report)


@route("POST", R + "/commit/{commit}/reports/{reportId}/annotations", {200})
def add_annotations(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    data = ctx.json()
    items = data if isinstance(data, list) else []
    store = repo.annotations.setdefault((commit.hash if commit else ctx.params["commit"], ctx.params["reportId"]), {})
    out = []
    for item in items[:100]:
        if not isinstance(item, dict):
            continue
        external = str(item.get("external_id") or new_uuid())
        stamp = now()
        ann = {
            "type": "report_annotation",
            **item,
            "external_id": external,
            "uuid": store.get(external, {}).get("uuid", new_uuid()),
        }
        ann.setdefault("created_on", stamp)
        ann["updated_on"] = stamp
        store[external] = ann
        out.append(ann)
    return Reply(200, out)


@route("GET", R + "/commit/{commit}/reports/{reportId}/annotations", {200})
def list_annotations(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    commit = repo.resolve(ctx.params["commit"])
    store = repo.annotations.get((commit.hash if commit else "", ctx.params["reportId"]), {})
    return Reply(200, page(ctx, list(store.values()), default_pagelen=100, max_pagelen=1000))

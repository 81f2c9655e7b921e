"""The local Bitbucket's state: plain dataclasses, plus their JSON views as Bitbucket Cloud renders them."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fakes.bitbucket.pipelines import DEFAULT, Push, starts_pipeline
from fakes.bitbucket.scopes import OPERATION_SCOPES

ALL_SCOPES: frozenset[str] = frozenset(s for scopes in OPERATION_SCOPES.values() for s in scopes)
_counter = itertools.count(1)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_uuid() -> str:
    return "{" + str(uuidlib.uuid4()) + "}"


@dataclass
class User:
    uuid: str
    display_name: str
    nickname: str
    account_id: str = ""
    email: str = ""

    def json(self, base: str) -> dict[str, Any]:
        return {
            "type": "user",
            "uuid": self.uuid,
            "display_name": self.display_name,
            "nickname": self.nickname,
            "account_id": self.account_id or self.nickname,
            "links": {
                "self": {"href": f"{base}/2.0/users/{self.uuid}"},
                "html": {"href": f"{base}/{self.uuid}/"},
                "avatar": {"href": f"{base}/avatar/{self.nickname}.png"},
            },
        }


@dataclass
class Token:
    """An access token (Bearer) or API token (Basic, with ``email``), with the scopes it was granted."""

    secret: str
    scopes: frozenset[str]
    user: User


@dataclass
class Commit:
    hash: str
    parents: list[str]
    message: str
    author: str
    date: str
    tree: dict[str, bytes]

    def json(self, base: str, repo: Repo, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "commit",
            "hash": self.hash,
            "links": {"self": {"href": f"{base}/2.0/repositories/{repo.full_name}/commit/{self.hash}"}},
        }
        if full:
            out.update(
                {
                    "date": self.date,
                    "message": self.message,
                    "summary": {"raw": self.message, "markup": "markdown", "html": self.message},
                    "author": {"type": "author", "raw": self.author},
                    "parents": [{"type": "commit", "hash": p} for p in self.parents],
                }
            )
        return out


@dataclass
class RunnerState:
    uuid: str
    name: str
    labels: list[str]
    oauth_client_id: str
    oauth_client_secret: str
    created_on: str
    updated_on: str
    enabled: bool = True
    connected: bool = False
    ever_connected: bool = False
    step: dict[str, Any] | None = None
    oauth_presented: int = 0

    @property
    def status(self) -> str:
        if not self.enabled:
            return "DISABLED"
        if self.connected:
            return "ONLINE"
        return "OFFLINE" if self.ever_connected else "UNREGISTERED"

    def json(self, base: str, with_secret: bool = False) -> dict[str, Any]:
        state: dict[str, Any] = {
            "type": "pipeline_runner_state",
            "status": self.status,
            "updated_on": self.updated_on,
            "cordoned": False,
        }
        if self.step is not None:
            state["step"] = self.step
        oauth: dict[str, Any] = {
            "type": "pipeline_runner_oauth_client",
            "id": self.oauth_client_id,
            "token_endpoint": f"{base}/_fake/oauth2/token",
            "audience": "api.atlassian.com",
        }
        if with_secret:
            oauth["secret"] = self.oauth_client_secret
        return {
            "type": "pipeline_runner",
            "uuid": self.uuid,
            "name": self.name,
            "labels": list(self.labels),
            "state": state,
            "created_on": self.created_on,
            "updated_on": self.updated_on,
            "oauth_client": oauth,
        }


@dataclass
class CommentState:
    id: int
    raw: str
    user: User
    created_on: str
    updated_on: str
    pr_id: int | None = None
    commit: str | None = None

    def json(self, base: str, repo: Repo) -> dict[str, Any]:
        if self.pr_id is not None:
            html = f"{base}/{repo.full_name}/pull-requests/{self.pr_id}#comment-{self.id}"
            api = f"{base}/2.0/repositories/{repo.full_name}/pullrequests/{self.pr_id}/comments/{self.id}"
        else:
            html = f"{base}/{repo.full_name}/commits/{self.commit}#comment-{self.id}"
            api = f"{base}/2.0/repositories/{repo.full_name}/commit/{self.commit}/comments/{self.id}"
        out: dict[str, Any] = {
            "type": "pullrequest_comment" if self.pr_id is not None else "commit_comment",
            "id": self.id,
            "created_on": self.created_on,
            "updated_on": self.updated_on,
            "content": {"raw": self.raw, "markup": "markdown", "html": self.raw},
            "user": self.user.json(base),
            "deleted": False,
            "links": {"self": {"href": api}, "html": {"href": html}},
        }
        if self.pr_id is not None:
            pr = repo.pulls[self.pr_id]
            out["pullrequest"] = {
                "type": "pullrequest",
                "id": pr.id,
                "title": pr.title,
                "links": {"html": {"href": f"{base}/{repo.full_name}/pull-requests/{pr.id}"}},
            }
            out["pending"] = False
        else:
            out["commit"] = {"type": "commit", "hash": self.commit}
        return out


@dataclass
class PullRequestState:
    id: int
    title: str
    description: str
    source_branch: str
    destination_branch: str
    author: User
    close_source_branch: bool
    created_on: str
    updated_on: str
    destination_base: str  # destination head when the PR was opened
    state: str = "OPEN"
    source_commit_at_close: str = ""
    merge_commit: str = ""
    closed_by: User | None = None

    def source_commit(self, repo: Repo) -> str:
        if self.state != "OPEN":
            return self.source_commit_at_close
        return repo.branches.get(self.source_branch, self.source_commit_at_close)

    def json(self, base: str, repo: Repo) -> dict[str, Any]:
        web = f"{base}/{repo.full_name}/pull-requests/{self.id}"
        api = f"{base}/2.0/repositories/{repo.full_name}/pullrequests/{self.id}"
        dest_head = repo.branches.get(self.destination_branch, self.destination_base)
        out: dict[str, Any] = {
            "type": "pullrequest",
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "summary": {"raw": self.description, "markup": "markdown", "html": self.description},
            "state": self.state,
            "author": self.author.json(base),
            "source": {
                "branch": {"name": self.source_branch},
                "commit": {"hash": self.source_commit(repo)},
                "repository": repo.json(base, brief=True),
            },
            "destination": {
                "branch": {"name": self.destination_branch},
                "commit": {"hash": dest_head},
                "repository": repo.json(base, brief=True),
            },
            "close_source_branch": self.close_source_branch,
            "comment_count": sum(1 for c in repo.comments.values() if c.pr_id == self.id),
            "task_count": 0,
            "created_on": self.created_on,
            "updated_on": self.updated_on,
            "links": {
                "self": {"href": api},
                "html": {"href": web},
                "comments": {"href": f"{api}/comments"},
                "merge": {"href": f"{api}/merge"},
            },
        }
        if self.merge_commit:
            out["merge_commit"] = {"hash": self.merge_commit}
        if self.closed_by is not None:
            out["closed_by"] = self.closed_by.json(base)
        return out


@dataclass
class DownloadState:
    name: str
    content: bytes
    user: User
    created_on: str
    downloads: int = 0


@dataclass
class Workspace:
    slug: str
    uuid: str
    runners: dict[str, RunnerState] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"type": "workspace", "uuid": self.uuid, "slug": self.slug, "name": self.slug}


@dataclass
class Repo:
    workspace: Workspace
    slug: str
    uuid: str
    main_branch: str
    branches: dict[str, str] = field(default_factory=dict)  # name -> head commit hash
    commits: dict[str, Commit] = field(default_factory=dict)
    runners: dict[str, RunnerState] = field(default_factory=dict)
    pulls: dict[int, PullRequestState] = field(default_factory=dict)
    comments: dict[int, CommentState] = field(default_factory=dict)
    downloads: dict[str, DownloadState] = field(default_factory=dict)
    reports: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (commit, report id)
    annotations: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    refuse_merges: str = ""  # when set, every merge answers 409 with this message
    indexing_pending: int = 0  # answer 202 ("still indexing") this many times on commit -> PRs
    # The start conditions of the repository's bitbucket-pipelines.yml (pipelines.py): `default` and/or
    # `branches:` patterns; pushes lists every branch update with whether it started a pipeline.
    pipeline_triggers: tuple[str, ...] = (DEFAULT,)
    pushes: list[Push] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.workspace.slug}/{self.slug}"

    def json(self, base: str, brief: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "repository",
            "uuid": self.uuid,
            "full_name": self.full_name,
            "name": self.slug,
            "links": {
                "self": {"href": f"{base}/2.0/repositories/{self.full_name}"},
                "html": {"href": f"{base}/{self.full_name}"},
            },
        }
        if brief:
            return out
        out.update(
            {
                "slug": self.slug,
                "is_private": True,
                "scm": "git",
                "mainbranch": {"type": "branch", "name": self.main_branch},
                "workspace": self.workspace.json(),
                "created_on": self.commits[self.branches[self.main_branch]].date if self.branches else now(),
                "updated_on": now(),
            }
        )
        return out

    # --- commits
    def add_commit(self, parents: list[str], message: str, author: str, tree: dict[str, bytes]) -> Commit:
        seed = f"{parents}|{message}|{author}|{next(_counter)}|{secrets.token_hex(4)}"
        commit = Commit(
            hash=hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest(),
            parents=list(parents),
            message=message,
            author=author,
            date=now(),
            tree=dict(tree),
        )
        self.commits[commit.hash] = commit
        return commit

    def push(self, branch: str, commit_hash: str) -> None:
        """Move the branch to the commit, as a push does, and record whether it starts a pipeline."""
        self.branches[branch] = commit_hash
        message = self.commits[commit_hash].message
        started = starts_pipeline(branch, message, self.pipeline_triggers)
        self.pushes.append(Push(branch, commit_hash, message, started))

    def resolve(self, ref: str) -> Commit | None:
        """A commit by branch name, full hash or unique prefix of at least 7 characters."""
        if ref in self.branches:
            return self.commits[self.branches[ref]]
        if ref in self.commits:
            return self.commits[ref]
        if len(ref) >= 7:
            found = [c for h, c in self.commits.items() if h.startswith(ref)]
            if len(found) == 1:
                return found[0]
        return None

    def ancestors(self, commit_hash: str) -> set[str]:
        """The commit and everything reachable from it."""
        seen: set[str] = set()
        todo = [commit_hash]
        while todo:
            h = todo.pop()
            if h in seen or h not in self.commits:
                continue
            seen.add(h)
            todo.extend(self.commits[h].parents)
        return seen

    def branch_json(self, base: str, name: str) -> dict[str, Any]:
        head = self.commits[self.branches[name]]
        return {
            "type": "branch",
            "name": name,
            "target": head.json(base, self),
            "merge_strategies": ["merge_commit", "squash", "fast_forward"],
            "default_merge_strategy": "merge_commit",
            "links": {
                "self": {"href": f"{base}/2.0/repositories/{self.full_name}/refs/branches/{name}"},
                "html": {"href": f"{base}/{self.full_name}/branch/{name}"},
            },
        }


@dataclass
class StepState:
    """A step queued for one runner (test-only: the runner stand-in in test/support/fakes/vm asks for it).

    QUEUED until the runner asks for its next step (handed out: RUNNING, and the runner's state shows the
    step, so the pipe's REUSE_IDLE sees it busy), then PASSED or FAILED when the runner reports the end.
    A step that is RUNNING and never reported was abandoned half-done: Bitbucket's "unexpected system
    error that may have left your step half-completed" (support.atlassian.com/bitbucket-cloud/kb/
    pipeline-build-failed-with-unexpected-system-error-that-may-have-left-your). A QUEUED step is not lost:
    "each step remains in the queue while it is waiting for a compatible runner"
    (support.atlassian.com/bitbucket-cloud/docs/runners)."""

    uuid: str
    runner_uuid: str
    pipeline_uuid: str
    name: str
    duration_s: float
    status: str = "QUEUED"
    queued_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None

    def json(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "pipeline_uuid": self.pipeline_uuid, "name": self.name,
                "duration_s": self.duration_s}  # fmt: skip

"""FakeBitbucket: a local Bitbucket Cloud over real HTTP on 127.0.0.1, for tests and the demo.

API routes live under ``/2.0`` (``FakeBitbucket.url`` is what BITBUCKET_API_URL should be). Test-only
control endpoints live under ``/_fake/`` (never counted, never faulted, outside the spec):

    POST   /_fake/reset                      back to the seeded state (one repo, one full-scope token)
    GET    /_fake/state                      the whole state as JSON (secrets included: test-only)
    GET    /_fake/requests                   {"total": n, "by_route": {"GET /repositories/...": n}}
    POST   /_fake/faults                     add a fault rule (JSON, see FaultRule); DELETE clears them
    POST   /_fake/tokens                     {"token": "...", "scopes": [...], "email": "..."}
    POST   /_fake/runners/{uuid}/busy        {"step": {...}} optional; .../idle; .../offline
    POST   /_fake/merges                     {"refuse": "message"} or {"refuse": ""}
    POST   /_fake/oauth2/token               the runner's OAuth client-credentials grant: a correct
                                             client_id/client_secret pair turns that runner ONLINE
    GET    /_fake/runner/steps/next          the runner stand-in's steps (see runner_api.py; queue_step())
    GET    /_fake/storage/{ws}/{slug}/{name} download content (where GET .../downloads/{name} redirects)
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.bitbucket import routes as _routes  # noqa: F401  (registers the API routes)
from fakes.bitbucket.routing import ALWAYS_ALLOWED, ROUTES, ApiError, InvalidPagelen, Reply, RepoMissing, Route, match
from fakes.bitbucket.scopes import OPERATION_SCOPES
from fakes.bitbucket.state import ALL_SCOPES, Repo, RunnerState, StepState, Token, User, Workspace, new_uuid, now

API_PREFIX = "/2.0"
DEFAULT_WORKSPACE = "acme"
DEFAULT_REPO = "ml-seeds"
DEFAULT_TOKEN = "bb-test-token-full-scope"
DEFAULT_EMAIL = "cml-bot@example.com"
README = b"# ml-seeds\n\nSeed repository for CML Runner tests.\n"


@dataclass
class FaultRule:
    """Fault injection for API requests matching ``method`` (any if empty) and ``path`` (a regex searched in
    the request path, any if empty): skip the first ``after`` matches, then hit the next ``times`` (forever if
    None).

    kind: "status" (answer ``status``, with ``retry_after`` as Retry-After when set), "delay" (sleep
    ``delay_s`` then answer normally), "drop" (close the connection without a response), "body" (answer
    ``status`` with ``body`` as the raw text, of ``content_type``, and ``headers``: an HTML error page, a JSON
    list, "", a 302 to another host),
    "strip" (the real answer with the top-level keys in ``strip`` removed; with ``handled``).

    handled: the request is served first, so what it does lands (a runner is registered, a comment posted),
    and only then is the answer replaced by the fault: "the POST reached Bitbucket but its answer was lost"
    (drop), "a proxy answered 502 after Bitbucket did the work" (status), or a malformed answer to a call
    that did happen (body, strip).
    """

    kind: str = "status"
    status: int = 503
    retry_after: str | None = None
    delay_s: float = 0.0
    after: int = 0
    times: int | None = 1
    method: str = ""
    path: str = ""
    handled: bool = False
    body: str = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # kind "body": e.g. a Location or a redirect's target
    strip: list[str] = field(default_factory=list)
    seen: int = 0
    hits: int = 0

    def applies(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path and not re.search(self.path, path):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass
class Trigger:
    """Run ``action`` (under the fake's lock) right after a request matching ``method``/``path`` (as FaultRule)
    is answered: skip the first ``after`` matches, then fire ``times`` times. For races: a runner that comes
    back ONLINE between the pipe's listing and its delete."""

    action: Callable[[], None]
    method: str = ""
    path: str = ""
    after: int = 0
    times: int = 1
    seen: int = 0
    fired: int = 0

    def applies(self, method: str, path: str) -> bool:
        if (self.method and self.method.upper() != method) or (self.path and not re.search(self.path, path)):
            return False
        self.seen += 1
        if self.seen <= self.after or self.fired >= self.times:
            return False
        self.fired += 1
        return True


@dataclass
class Ctx:
    """One API request as a handler sees it."""

    fake: FakeBitbucket
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    base: str  # http://host:port, from the request's Host
    user: User
    route: Route | None = None

    def q(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(400, "Invalid JSON body") from exc

    def workspace(self) -> Workspace:
        ref = self.params["workspace"]
        for ws in self.fake.workspaces.values():
            if ref in (ws.slug, ws.uuid):
                return ws
        raise RepoMissing(f"Workspace {ref} not found")

    def repo(self) -> Repo:
        ws = self.workspace()
        slug = self.params["repo_slug"]
        for repo in self.fake.repos.values():
            if repo.workspace is ws and slug in (repo.slug, repo.uuid):
                return repo
        raise RepoMissing(f"Repository {ws.slug}/{slug} not found")

    def form(self) -> list[tuple[str, bytes, str | None]]:
        """(field name, value, filename or None) for multipart/form-data or urlencoded bodies."""
        ctype = self.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            raw = b"Content-Type: " + ctype.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + self.body
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
            out: list[tuple[str, bytes, str | None]] = []
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name is None:
                    continue
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                out.append((str(name), data, part.get_filename()))
            return out
        if ctype.startswith("application/x-www-form-urlencoded"):
            pairs = parse_qs(self.body.decode(), keep_blank_values=True)
            return [(k, v.encode(), None) for k, vs in pairs.items() for v in vs]
        return []


class FakeBitbucket:
    """A stateful local Bitbucket Cloud. ``start()`` serves it on 127.0.0.1; state is plain attributes.

    Direct state access (hold ``lock`` while mutating from a test): ``repos``, ``workspaces``,
    ``tokens``, ``users``, ``faults``; helpers ``repo()``, ``runner()``, ``present_oauth()``...
    """

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", seed: bool = True) -> None:
        self.host = host
        self.port = port
        self.lock = threading.RLock()
        self.step_queued = threading.Condition(self.lock)  # wakes runners long-polling for a step
        self._seed = seed
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.routes: list[Route] = list(ROUTES)
        self.reset()

    # --- lifecycle
    def start(self) -> FakeBitbucket:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-bitbucket", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeBitbucket:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API base URL: what BITBUCKET_API_URL should be."""
        return f"{self.root_url}{API_PREFIX}"

    # --- state
    def reset(self) -> None:
        """Wipe everything and re-seed: workspace 'acme', repo 'ml-seeds' with main at an initial commit,
        user 'CML Bot', full-scope token DEFAULT_TOKEN (also valid as Basic DEFAULT_EMAIL:DEFAULT_TOKEN)."""
        with self.lock:
            self.workspaces: dict[str, Workspace] = {}
            self.repos: dict[str, Repo] = {}
            self.users: dict[str, User] = {}
            self.tokens: dict[str, Token] = {}
            self.faults: list[FaultRule] = []
            self.requests: Counter[str] = Counter()
            self.total_requests = 0
            self.recorded: list[tuple[str, str, int, Any]] = []  # (method, template, status, JSON body)
            self.violations: list[str] = []  # statuses a handler returned without declaring them
            self.oauth_tokens: dict[str, str] = {}  # issued runner access token -> runner uuid
            self.steps: dict[str, StepState] = {}  # steps queued for runners (queue_step)
            self.dispatch_held = False  # hold_steps(): queued steps wait, as behind a slow scheduler
            self.triggers: list[Trigger] = []
            # Runners go ONLINE when registered (an instant boot): a launch then polls exactly once.
            self.connect_on_register = False
            # Bitbucket's hourly limit on /2.0/repositories/* for access tokens, when set (None: unlimited,
            # no headers); rate_used counts the requests it applies to (set it to start part-way).
            self.hourly_limit: int | None = None
            self.rate_used = 0
            self._next_pr = 0
            self._next_comment = 1000
            self.bot = self.add_user("CML Bot", "cml-bot", email=DEFAULT_EMAIL)
            if self._seed:
                self.add_token(DEFAULT_TOKEN, user=self.bot)
                self.add_repository(DEFAULT_WORKSPACE, DEFAULT_REPO, files={"README.md": README})

    def add_user(self, display_name: str, nickname: str, *, email: str = "") -> User:
        with self.lock:
            user = User(new_uuid(), display_name, nickname, account_id=f"557058:{secrets.token_hex(8)}", email=email)
            self.users[user.uuid] = user
            return user

    def add_token(
        self, token: str, scopes: set[str] | frozenset[str] | None = None, *, user: User | None = None
    ) -> Token:
        """Configure a token. ``scopes`` in the token UI's form (default: all); Basic auth uses the user's email."""
        with self.lock:
            owner = user or self.bot
            t = Token(token, frozenset(ALL_SCOPES if scopes is None else scopes), owner)
            self.tokens[token] = t
            return t

    def add_repository(
        self, workspace: str, slug: str, *, main_branch: str = "main", files: dict[str, bytes] | None = None
    ) -> Repo:
        with self.lock:
            ws = self.workspaces.get(workspace) or Workspace(workspace, new_uuid())
            self.workspaces[workspace] = ws
            repo = Repo(ws, slug, new_uuid(), main_branch)
            if files is not None:
                first = repo.add_commit([], "Initial commit", f"{self.bot.display_name} <{DEFAULT_EMAIL}>", files)
                repo.branches[main_branch] = first.hash
            self.repos[repo.full_name] = repo
            return repo

    def repo(self, workspace: str = DEFAULT_WORKSPACE, slug: str = DEFAULT_REPO) -> Repo:
        return self.repos[f"{workspace}/{slug}"]

    def pipeline_env(
        self, token: str = DEFAULT_TOKEN, workspace: str = DEFAULT_WORKSPACE, slug: str = DEFAULT_REPO
    ) -> dict[str, str]:
        """The Bitbucket Pipelines variables of a step on this repository's main branch, aimed at this fake."""
        repo = self.repo(workspace, slug)
        return {
            "BITBUCKET_API_URL": self.url,
            "BITBUCKET_ACCESS_TOKEN": token,
            "BITBUCKET_WORKSPACE": workspace,
            "BITBUCKET_REPO_SLUG": slug,
            "BITBUCKET_REPO_UUID": repo.uuid,
            "BITBUCKET_REPO_OWNER_UUID": repo.workspace.uuid,
            "BITBUCKET_BRANCH": repo.main_branch,
            "BITBUCKET_COMMIT": repo.branches[repo.main_branch],
        }

    def all_runners(self) -> dict[str, RunnerState]:
        out: dict[str, RunnerState] = {}
        for repo in self.repos.values():
            out.update(repo.runners)
        for ws in self.workspaces.values():
            out.update(ws.runners)
        return out

    def runner(self, uuid: str) -> RunnerState:
        return self.all_runners()[uuid]

    def present_oauth(self, client_id: str, client_secret: str) -> str | None:
        """What the runner on a VM does at start: exchange its OAuth client credentials for a token.

        A correct pair turns that runner ONLINE and returns an access token; a wrong one returns None.
        """
        with self.lock:
            for r in self.all_runners().values():
                if r.oauth_client_id == client_id and secrets.compare_digest(r.oauth_client_secret, client_secret):
                    r.connected = r.ever_connected = True
                    r.oauth_presented += 1
                    r.updated_on = now()
                    issued = "runner-" + secrets.token_urlsafe(24)
                    self.oauth_tokens[issued] = r.uuid
                    return issued
            return None

    def set_runner_busy(self, uuid: str, step: dict[str, Any] | None = None) -> None:
        with self.lock:
            r = self.runner(uuid)
            r.step = step or {"uuid": new_uuid(), "name": "train"}
            r.updated_on = now()

    def set_runner_idle(self, uuid: str) -> None:
        with self.lock:
            self.runner(uuid).step = None

    def set_runner_offline(self, uuid: str) -> None:
        with self.lock:
            r = self.runner(uuid)
            r.connected, r.step = False, None
            r.ever_connected = True

    def queue_step(self, runner_uuid: str, duration_s: float, name: str = "train") -> StepState:
        """Queue a step of duration_s seconds for one runner; its runner takes it when it next asks."""
        with self.lock:
            self.runner(runner_uuid)  # KeyError for an unknown runner
            step = StepState(new_uuid(), runner_uuid, new_uuid(), name, duration_s, queued_at=time.time())
            self.steps[step.uuid] = step
            self.step_queued.notify_all()
            return step

    def hold_steps(self, held: bool = True) -> None:
        """Hold queued steps back from runners asking for them (True), or hand them out now (False)."""
        with self.lock:
            self.dispatch_held = held
            self.step_queued.notify_all()

    def take_step(self, runner_uuid: str, wait_s: float) -> StepState | None:
        """The runner's next queued step, now RUNNING on it (its state shows the step); None after wait_s."""
        deadline = time.monotonic() + wait_s
        with self.lock:
            while True:
                step = next((s for s in self.steps.values() if s.runner_uuid == runner_uuid and s.status == "QUEUED"),
                            None)  # fmt: skip
                if step is not None and not self.dispatch_held:
                    step.status, step.started_at = "RUNNING", time.time()
                    runner = self.all_runners().get(runner_uuid)
                    if runner is not None:
                        runner.step = {"uuid": step.uuid, "name": step.name}
                        runner.updated_on = now()
                    return step
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.step_queued.wait(left)

    def seed_runners(
        self,
        count: int,
        *,
        labels: list[str],
        status: str = "ONLINE",
        prefix: str = "runner",
        updated_on: str = "",
        workspace: str = DEFAULT_WORKSPACE,
        slug: str | None = DEFAULT_REPO,
    ) -> list[RunnerState]:
        """Register ``count`` runners straight into the state (no HTTP): thousands in milliseconds.

        status: ONLINE, OFFLINE (connected once), UNREGISTERED or DISABLED; ``slug`` None = workspace runners."""
        stamp = updated_on or now()
        with self.lock:
            home = self.repo(workspace, slug).runners if slug else self.workspaces[workspace].runners
            made = []
            for index in range(count):
                runner = RunnerState(
                    uuid=new_uuid(),
                    name=f"{prefix}-{index:05d}",
                    labels=list(labels),
                    oauth_client_id=f"seeded-{secrets.token_hex(8)}",
                    oauth_client_secret=secrets.token_hex(16),
                    created_on=stamp,
                    updated_on=stamp,
                    enabled=status != "DISABLED",
                    connected=status == "ONLINE",
                    ever_connected=status in ("ONLINE", "OFFLINE"),
                )
                home[runner.uuid] = runner
                made.append(runner)
            return made

    def add_trigger(self, action: Callable[[], None], **kwargs: Any) -> Trigger:
        """Run action after a matching request is answered; see Trigger."""
        with self.lock:
            trigger = Trigger(action, **kwargs)
            self.triggers.append(trigger)
            return trigger

    def rate_limited(self, api_path: str, authorization: str) -> Reply | None:
        """Bitbucket's scaled rate limit, for access tokens on /repositories/* (see pipe/bitbucket/answers.py,
        RateLimit, for the sources): the headers to add, or a 429 once the hour's limit is used."""
        with self.lock:
            if self.hourly_limit is None or not api_path.startswith("/repositories/"):
                return None
            if not authorization.lower().startswith("bearer "):
                return None  # the headers come only with access tokens
            self.rate_used += 1
            headers = {"X-RateLimit-Limit": str(self.hourly_limit), "X-RateLimit-Resource": "api"}
            if self.rate_used > self.hourly_limit:
                return Reply(429, error_body("Rate limit for this resource has been exceeded"), headers)
            if self.rate_used >= 0.8 * self.hourly_limit:  # "under 20% left"
                headers["X-RateLimit-NearLimit"] = "true"
            return Reply(200, None, headers)

    def add_fault(self, kind: str = "status", **kwargs: Any) -> FaultRule:
        """Add a fault rule; see FaultRule. E.g. ``add_fault("status", status=429, retry_after="3", times=2)``."""
        with self.lock:
            rule = FaultRule(kind=kind, **kwargs)
            self.faults.append(rule)
            return rule

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def request_count(self, route: str | None = None) -> int:
        """API requests served (``/_fake/`` excluded); ``route`` is "METHOD /template" as in ``requests``."""
        with self.lock:
            return self.total_requests if route is None else self.requests[route]

    def dump(self) -> dict[str, Any]:
        """The whole state as JSON-able data (secrets included: this is a test double)."""
        with self.lock:
            base = self.root_url
            return {
                "url": self.url,
                "requests": {"total": self.total_requests, "by_route": dict(self.requests)},
                "workspaces": {
                    ws.slug: {"uuid": ws.uuid, "runners": [_runner_dump(r, base) for r in ws.runners.values()]}
                    for ws in self.workspaces.values()
                },
                "repositories": {name: _repo_dump(repo, base) for name, repo in self.repos.items()},
                "faults": [asdict(f) for f in self.faults],
                "violations": list(self.violations),
            }

    # --- request handling (called from the HTTP handler thread)
    def authenticate(self, header: str) -> Token | None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.tokens.get(value.strip())
        if scheme.lower() == "basic":
            try:
                email_addr, _, token = base64.b64decode(value.strip()).decode().partition(":")
            except ValueError:
                return None
            t = self.tokens.get(token)
            if t is not None and t.user.email and t.user.email == email_addr:
                return t
        return None

    def next_pr_id(self) -> int:
        self._next_pr += 1
        return self._next_pr

    def next_comment_id(self) -> int:
        self._next_comment += 1
        return self._next_comment


def _runner_dump(r: RunnerState, base: str) -> dict[str, Any]:
    out = r.json(base)
    out["oauth_client"]["secret"] = r.oauth_client_secret
    out["_fake"] = {"oauth_presented": r.oauth_presented}
    return out


def _repo_dump(repo: Repo, base: str) -> dict[str, Any]:
    return {
        "uuid": repo.uuid,
        "workspace_uuid": repo.workspace.uuid,
        "main_branch": repo.main_branch,
        "branches": dict(repo.branches),
        "commits": {
            h: {"parents": c.parents, "message": c.message, "author": c.author, "files": sorted(c.tree)}
            for h, c in repo.commits.items()
        },
        "runners": [_runner_dump(r, base) for r in repo.runners.values()],
        "pullrequests": [pr.json(base, repo) for pr in repo.pulls.values()],
        "comments": [c.json(base, repo) for c in repo.comments.values()],
        "downloads": [{"name": d.name, "size": len(d.content)} for d in repo.downloads.values()],
        "reports": [{"commit": k[0], "id": k[1], **v} for k, v in repo.reports.items()],
        "annotations": {f"{k[0]}/{k[1]}": list(v.values()) for k, v in repo.annotations.items()},
        "refuse_merges": repo.refuse_merges,
        "pipeline_triggers": list(repo.pipeline_triggers),
        "pushes": [asdict(p) for p in repo.pushes],
    }


def error_body(message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message}
    if data:
        err["data"] = data
    return {"type": "error", "error": err}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBitbucket
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "fake-bitbucket"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            payload = reply.body
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if payload:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client is gone (e.g. a VM killed mid-poll)
                self.close_connection = True

    def _handle(self, method: str) -> None:
        fake = self.owner
        parts = urlsplit(self.path)
        path = parts.path
        body = self._read_body()
        host = self.headers.get("Host") or f"{fake.host}:{fake.port}"
        base = f"http://{host}"
        if path.startswith("/_fake/"):
            from fakes.bitbucket.control import handle_control

            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(handle_control(fake, method, path, parts.query, body, base, headers))
            return
        if not path.startswith(API_PREFIX + "/"):
            self._send(Reply(404, error_body(f"No such resource: {path}")))
            return
        api_path = path[len(API_PREFIX) :]
        r, params, path_known = match(fake.routes, method, api_path)
        with fake.lock:
            fake.total_requests += 1
            fake.requests[r.key if r else f"{method} <unrouted>"] += 1
            fault = next((f for f in fake.faults if f.applies(method, api_path)), None)
        authorization = self.headers.get("Authorization", "")
        if fault is not None and fault.handled:  # served, then its answer is replaced
            reply = self._dispatch(method, api_path, r, params, path_known, parts.query, body, base)
            self._after(method, api_path, reply, fake.rate_limited(api_path, authorization))
            if fault.kind == "strip" and isinstance(reply.body, dict):
                reply.body = {k: v for k, v in reply.body.items() if k not in fault.strip}
                self._send(reply)
            elif not self._fault(fault):
                self._send(reply)
            return
        if fault is not None and self._fault(fault):
            return
        limited = fake.rate_limited(api_path, authorization)
        if limited is not None and limited.status == 429:
            self._send(limited)
            return
        reply = self._dispatch(method, api_path, r, params, path_known, parts.query, body, base)
        self._after(method, api_path, reply, limited)
        self._send(reply)

    def _after(self, method: str, api_path: str, reply: Reply, limited: Reply | None) -> None:
        """Once a request was served: the rate-limit headers on its answer, and the triggers it sets off."""
        fake = self.owner
        if limited is not None:
            reply.headers.update(limited.headers)
        with fake.lock:
            for trigger in [t for t in fake.triggers if t.applies(method, api_path)]:
                trigger.action()

    def _fault(self, fault: FaultRule) -> bool:
        """Act out the fault; True if it answered (or dropped) the request, False for a delay then the real answer."""
        if fault.kind == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return True
        if fault.kind == "delay":
            time.sleep(fault.delay_s)
            return False
        if fault.kind == "body":
            self._send(Reply(fault.status, fault.body.encode(), dict(fault.headers), content_type=fault.content_type))
            return True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        msg = "Rate limit for this resource has been exceeded" if fault.status == 429 else "Injected fault"
        self._send(Reply(fault.status, error_body(msg), headers))
        return True

    def _dispatch(
        self,
        method: str,
        api_path: str,
        r: Route | None,
        params: dict[str, str],
        path_known: bool,
        query: str,
        body: bytes,
        base: str,
    ) -> Reply:
        fake = self.owner
        if r is None:
            status = 405 if path_known else 404
            return Reply(status, error_body(f"No route for {method} {api_path} in the local Bitbucket"))
        paged_refusal = False
        with fake.lock:
            token = fake.authenticate(self.headers.get("Authorization", ""))
            if token is None:
                reply = Reply(401, error_body("Token is invalid, expired, or not supported for this endpoint."))
            else:
                required = OPERATION_SCOPES.get((r.method, r.template), ())
                missing = [s for s in required if s not in token.scopes]
                if missing:
                    reply = Reply(
                        403,
                        error_body(
                            "Your credentials lack one or more required privilege scopes.",
                            {"required": list(required), "granted": sorted(token.scopes)},
                        ),
                    )
                else:
                    ctx = Ctx(
                        fake,
                        method,
                        api_path,
                        params,
                        parse_qs(query, keep_blank_values=True),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        base,
                        token.user,
                        r,
                    )
                    try:
                        reply = r.handler(ctx)
                    except RepoMissing as exc:
                        reply = Reply(404 if 404 in r.statuses else 403, error_body(exc.what))
                    except InvalidPagelen as exc:
                        reply = Reply(exc.status, error_body(exc.message, exc.data))
                        paged_refusal = True
                    except ApiError as exc:
                        reply = Reply(exc.status, error_body(exc.message, exc.data))
            if reply.status not in r.statuses | r.described | ALWAYS_ALLOWED and not paged_refusal:
                fake.violations.append(f"{r.key} returned undeclared {reply.status}")
            recorded = reply.body if not isinstance(reply.body, bytes) else None
            fake.recorded.append((r.method, r.template, reply.status, recorded))
            if len(fake.recorded) > 5000:
                del fake.recorded[:1000]
            return reply

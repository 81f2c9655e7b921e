"""FakeKubernetes: a local Kubernetes API server over HTTPS on 127.0.0.1, for tests and the demo.

The real `kubernetes` client talks to it through a kubeconfig (`kubeconfig()`: the server URL, this server's
own CA certificate and a bearer token), as it would to a cluster. Control API (tests):
    nodes, add_node()              the cluster's nodes (default: three GKE e2-standard-8 nodes, 8 vCPU and 32 GiB,
                                   with GKE's allocatable and DaemonSets; fakes.kubernetes.nodes), no GPUs
    behaviour                      bad_images, crashing containers, hold (ContainerCreating), exits
    exit_container(pod, name, code) a container ends; tick() settles the cluster; advance(s) moves the clock
    fail(...)                      fault injection: a status (429 with Retry-After, 500 ...), a delay or a drop
    add_token(token, rules)        another bearer token, allowed only the (verb, resource) pairs in rules
    container_view(pod, container) what a container sees of its node (GPUs, /proc, its MTU; fakes.kubernetes.devices)
    objects(plural, namespace)     state as stored; requests: the request log; violations: schema breaches
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from fakes.clock import FakeClock
from fakes.kubernetes import schema
from fakes.kubernetes.devices import ContainerView
from fakes.kubernetes.emulated import KubernetesEmulation
from fakes.kubernetes.lifecycle import Behaviour, Cluster
from fakes.kubernetes.routes import Reply, Request, Target, dispatch
from fakes.kubernetes.scheduler import Node, class_node, make_node
from fakes.kubernetes.state import KINDS, Store
from fakes.kubernetes.status import KubeError, forbidden, unauthorized
from fakes.serving import LocalServer

DEFAULT_TOKEN = "fake-kubernetes-token-9c1f"
DEFAULT_USER = "system:serviceaccount:ci:cml-runner"
CONTEXT = "fake-cluster"


@dataclass
class Fault:
    method: str  # "" = any
    pattern: re.Pattern[str]  # searched in the path
    status: int = 500  # 0 = answer normally (after the delay)
    times: int = 1
    retry_after: str | None = None
    delay_s: float = 0.0  # sleep first (then answer normally unless status is set)
    drop: bool = False  # close the connection without an answer


@dataclass
class Grant:
    user: str
    rules: frozenset[tuple[str, str]] | None  # (verb, plural); None = everything


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # secrets' data masked
    status: int = 0
    at: float = field(default_factory=time.time)




class FakeKubernetes(KubernetesEmulation):
    def __init__(self, *, port: int = 0, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = LocalServer(handler, port=port, tls=True, name="kubernetes-fake")
        self.url = self._server.url
        assert self._server.cert_path is not None
        self.cert_path = self._server.cert_path
        self.reset()

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self.lock:
            self.store = Store(self.clock.now if self.clock else time.time)
            # Three GKE e2-standard-8 nodes (CLOUD_TYPE m's machine) with GKE's allocatable and DaemonSets.
            self.nodes: list[Node] = [class_node(f"node-{i}", "m", "gke") for i in (1, 2, 3)]
            self.behaviour = Behaviour()
            self.cluster = Cluster(self.store, self.nodes, self.behaviour)
            self.tokens: dict[str, Grant] = {DEFAULT_TOKEN: Grant(DEFAULT_USER, None)}
            self.faults: list[Fault] = []
            self.requests: list[RequestRecord] = []
            self.violations: list[str] = []
            # OpenShift's admission rule for ownerReferences (fakes.kubernetes.routes._admit_owner_references);
            # vanilla Kubernetes has it off: the stricter of the two is the default here.
            self.owner_references_enforcement = True

    # -- client configuration -----------------------------------------------------------------------

    def kubeconfig(self, *, namespace: str = "default", token: str = DEFAULT_TOKEN) -> dict[str, Any]:
        """A kubeconfig document for this server: its CA inline, a bearer token, one context."""
        ca = base64.b64encode(self.cert_path.read_bytes()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": CONTEXT,
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "cml-runner", "user": {"token": token}}],
            "contexts": [
                {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "cml-runner", "namespace": namespace}}
            ],
        }

    def kubeconfig_yaml(self, **kwargs: Any) -> str:
        return str(yaml.safe_dump(self.kubeconfig(**kwargs), sort_keys=False))

    def env(self, **kwargs: Any) -> dict[str, str]:
        """What a pipeline step sets for CLOUD: kubernetes against this server (KUBE_CONFIG, base64)."""
        return {
            "CLOUD": "kubernetes",
            "KUBE_CONFIG": base64.b64encode(self.kubeconfig_yaml(**kwargs).encode()).decode(),
        }

    # -- control API --------------------------------------------------------------------------------

    def add_namespace(self, name: str) -> None:
        with self.lock:
            self.store.namespaces.add(name)

    def add_node(self, name: str, **kwargs: Any) -> Node:
        """make_node's options: cpu, memory, gpus, labels, taints, cloud (gke, eks, aks: realistic allocatable)."""
        node = make_node(name, **kwargs)
        with self.lock:
            self.nodes.append(node)
        return node

    def set_nodes(self, *nodes: Node) -> None:
        with self.lock:
            self.nodes[:] = list(nodes)

    def add_token(self, token: str, rules: set[tuple[str, str]] | None = None, user: str = "limited-user") -> None:
        with self.lock:
            self.tokens[token] = Grant(user, frozenset(rules) if rules is not None else None)

    def fail(
        self,
        method: str = "",
        path_pattern: str = "",
        *,
        status: int | None = None,
        times: int = 1,
        retry_after: str | None = None,
        delay_s: float = 0.0,
        drop: bool = False,
    ) -> None:
        """The next `times` matching requests fail: with status (default 500), or only slowly (delay_s: then
        answered normally unless a status is given), or by a dropped connection."""
        if status is None:
            status = 0 if delay_s or drop else 500
        with self.lock:
            self.faults.append(
                Fault(method.upper(), re.compile(path_pattern), status, times, retry_after, delay_s, drop)
            )

    def exit_container(self, pod: str, container: str, exit_code: int = 0) -> None:
        """The container ends with exit_code at the next settle (the pod's main process finishing, say)."""
        with self.lock:
            self.behaviour.exits[(pod, container)] = exit_code
        self.tick()

    def tick(self) -> None:
        with self.lock:
            self.cluster.settle()

    def advance(self, seconds: float) -> None:
        if self.clock is None:
            raise RuntimeError("advance() needs FakeKubernetes(clock=FakeClock(...))")
        with self.lock:
            self.clock.sleep(seconds)
        self.tick()

    def container_view(self, pod: str, container: str, namespace: str = "default") -> ContainerView:
        """What a container of a scheduled pod sees of its node: GPU devices, /proc, the pod's interface."""
        with self.lock:
            found = self.store.find("pods", namespace, pod)
            if found is None or not found["spec"].get("nodeName"):
                raise KeyError(f"pod {namespace}/{pod} is not scheduled")
            return self.cluster.kubelet.view(found, container)

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.store.of_kind(plural, namespace))

    def object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.store.find(plural, namespace, name)
            return copy.deepcopy(found) if found is not None else None

    def allowed(self, grant: Grant, verb: str, plural: str) -> bool:
        """RBAC's answer for (verb, resource), a subresource written as `jobs/finalizers`."""
        return grant.rules is None or (verb, plural) in grant.rules

    def authorize(self, grant: Grant, target: Target) -> None:
        if self.allowed(grant, target.verb, target.plural):
            return
        kind = KINDS[target.plural]
        raise forbidden(kind.group, target.plural, target.name, target.verb, grant.user, target.namespace)

    # -- request handling ---------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method in ("", method) and fault.pattern.search(path):
                    fault.times -= 1
                    return fault
        return None

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        """(status, headers, JSON body); raises ConnectionAbortedError for a dropped connection."""
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        entry = RequestRecord(method, path, query, None)
        with self.lock:
            self.requests.append(entry)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            entry.status = 400
            return 400, {}, KubeError(400, "the body of the request was in an unknown format").body()
        entry.body = _masked(body)
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.drop:
                raise ConnectionAbortedError(path)
            if fault.status:
                entry.status = fault.status
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                message = "Too many requests, please try again later." if fault.status == 429 else "injected fault"
                return fault.status, extra, KubeError(fault.status, message).body()
        try:
            grant = self.tokens.get(headers.get("authorization", "").removeprefix("Bearer ").strip())
            if not headers.get("authorization", "").startswith("Bearer ") or grant is None:
                raise unauthorized()
            with self.lock:
                self.cluster.settle()
                reply = dispatch(self, Request(method, path, query, body, grant))
                self.cluster.settle()
                self._check_response(reply)
        except KubeError as error:
            reply = Reply(error.code, error.body(), error.headers)
        except Exception as crash:  # noqa: BLE001 - a bug of the fake's: answer 500 and fail the test
            with self.lock:
                self.violations.append(f"the fake crashed on {method} {path}: {crash!r}")
            reply = Reply(500, KubeError(500, f"local Kubernetes bug: {crash!r}").body())
        entry.status = reply.status
        return reply.status, reply.headers, reply.body

    def _check_response(self, reply: Reply) -> None:
        body = reply.body
        if not isinstance(body, dict) or body.get("kind") in (None, "Status", "Namespace"):
            return
        docs = body.get("items", []) if str(body.get("kind", "")).endswith("List") else [body]
        for doc in docs:
            problems = schema.response_problems(doc["kind"], doc["apiVersion"], doc)
            self.violations.extend(f"response {doc['kind']} {doc['metadata'].get('name')}: {p}" for p in problems)


def _masked(body: Any) -> Any:
    if isinstance(body, dict) and body.get("kind") == "Secret":
        out = dict(body)
        for key in ("data", "stringData"):
            if isinstance(out.get(key), dict):
                out[key] = {k: "***" for k in out[key]}
        return out
    return body


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubernetes
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out_headers, out = self.fake.handle(self.command, self.path, headers, raw)
        except ConnectionAbortedError:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        data = json.dumps(out).encode() if out is not None else b""
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return

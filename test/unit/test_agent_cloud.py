"""The agent's cloud side: interruption notices and self-termination per cloud, and its Docker view."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fakes.clock import FakeClock
from vm_sandbox import allowed_tools

from pipe.bootstrap.agent import Agent
from pipe.bootstrap.agent_vm import CloudMetadata, DockerHost, http

RUNNER = "{0a1b2c3d-1111-2222-3333-444455556666}"
Route = tuple[int, bytes]


class FakeMetadata:
    """Answers (method, url-without-host) from a table; records every request with its headers."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, method: str, url: str, headers: dict[str, str], timeout: float) -> Route:
        self.requests.append((method, url, headers))
        return self.routes.get((method, url), (404, b""))


def cloud(name: str, routes: dict[tuple[str, str], Route], **cfg: str) -> tuple[CloudMetadata, FakeMetadata, list[str]]:
    fake = FakeMetadata(routes)
    events: list[str] = []
    md = CloudMetadata(
        {"cloud": name, "runner_uuid": RUNNER, **cfg}, power_off=lambda: events.append("power-off"),
        log=events.append, request=fake,
    )  # fmt: skip
    return md, fake, events


IMDS = "http://169.254.169.254"
GCE = "http://metadata.google.internal/computeMetadata/v1/"
AZ_EVENTS = IMDS + "/metadata/scheduledevents?api-version=2020-07-01"


# --------------------------------------------------------------- interruption


def test_aws_spot_notice_uses_imdsv2() -> None:
    routes = {("PUT", IMDS + "/latest/api/token"): (200, b"TOKEN")}
    md, fake, _ = cloud("aws", routes)
    assert md.interruption() is None
    routes[("GET", IMDS + "/latest/meta-data/spot/instance-action")] = (200, b'{"action": "terminate"}')
    assert md.interruption() == 'AWS spot instance-action {"action": "terminate"}'
    put = fake.requests[0]
    assert put[2] == {"X-aws-ec2-metadata-token-ttl-seconds": "300"}
    assert fake.requests[-1][2] == {"X-aws-ec2-metadata-token": "TOKEN"}


def test_gcp_preempted_flag() -> None:
    routes = {("GET", GCE + "instance/preempted"): (200, b"FALSE")}
    md, fake, _ = cloud("gcp", routes)
    assert md.interruption() is None
    routes[("GET", GCE + "instance/preempted")] = (200, b"TRUE")
    assert md.interruption() == "GCP preemption"
    assert all(h == {"Metadata-Flavor": "Google"} for _, _, h in fake.requests)


def test_azure_scheduled_event_preempt_only() -> None:
    routes = {("GET", AZ_EVENTS): (200, json.dumps({"Events": [{"EventType": "Reboot"}]}).encode())}
    md, fake, _ = cloud("azure", routes)
    assert md.interruption() is None
    event = {"EventId": "E1", "EventType": "Preempt", "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT"}
    routes[("GET", AZ_EVENTS)] = (200, json.dumps({"Events": [event]}).encode())
    assert md.interruption() == "Azure Scheduled Event Preempt E1 at Mon, 19 Sep 2016 18:29:47 GMT"
    assert fake.requests[-1][2] == {"Metadata": "true"}


@pytest.mark.parametrize("name", ["aws", "gcp", "azure"])
def test_unreachable_metadata_is_no_notice(name: str) -> None:
    md, _, _ = cloud(name, {})
    assert md.interruption() is None


# ---------------------------------------------------------------- termination


def test_aws_terminates_by_powering_off_with_no_api_call() -> None:
    md, fake, events = cloud("aws", {})
    md.terminate("idle")
    assert events == ["power-off"] and fake.requests == []


GCP_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", GCE + "project/project-id"): (200, b"my-proj"),
    ("GET", GCE + "instance/zone"): (200, b"projects/123/zones/us-west1-b"),
    ("GET", GCE + "instance/name"): (200, b"cml-abcdefghij"),
    ("GET", GCE + "instance/service-accounts/default/token"): (200, b'{"access_token": "ya29.x", "expires_in": 9}'),
}
GCP_DELETE = (
    "DELETE",
    "https://compute.googleapis.com/compute/v1/projects/my-proj/zones/us-west1-b/instances/cml-abcdefghij",
)


def test_gcp_deletes_itself_through_its_service_account_then_powers_off() -> None:
    md, fake, events = cloud("gcp", {**GCP_ROUTES, GCP_DELETE: (200, b"{}")})
    md.terminate("idle")
    assert fake.requests[-1] == (*GCP_DELETE, {"Authorization": "Bearer ya29.x"})
    assert events[-1] == "power-off"


@pytest.mark.parametrize("missing", ["token", "permission"])
def test_gcp_without_delete_rights_still_powers_off_and_says_the_sweep_deletes_it(missing: str) -> None:
    routes = {**GCP_ROUTES, GCP_DELETE: (403, b"forbidden")}
    if missing == "token":
        del routes[("GET", GCE + "instance/service-accounts/default/token")]
    md, _, events = cloud("gcp", routes)
    md.terminate("idle")
    assert events[-1] == "power-off" and "sweep" in events[0]


AZ_COMPUTE = ("GET", IMDS + "/metadata/instance/compute?api-version=2021-02-01")
AZ_TOKEN = ("GET", IMDS + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
            "https%3A%2F%2Fmanagement.azure.com%2F")  # fmt: skip


def azure_routes(tag: str = RUNNER.strip("{}")) -> dict[tuple[str, str], Route]:
    compute = {"subscriptionId": "sub1", "resourceGroupName": "cml-abcdefghij", "name": "cml-abcdefghij",
               "tagsList": [{"name": "cml-runner-uuid", "value": tag}]}  # fmt: skip
    return {AZ_COMPUTE: (200, json.dumps(compute).encode()), AZ_TOKEN: (200, b'{"access_token": "eyJ"}')}


@pytest.mark.parametrize(
    ("mode", "path"),
    [
        ("resource-group", "/subscriptions/sub1/resourceGroups/cml-abcdefghij?api-version=2021-04-01"),
        ("vm", "/subscriptions/sub1/resourceGroups/cml-abcdefghij/providers/Microsoft.Compute/virtualMachines/"
               "cml-abcdefghij?api-version=2024-07-01"),
    ],
)  # fmt: skip
def test_azure_deletes_its_own_group_or_vm_through_the_managed_identity(mode: str, path: str) -> None:
    delete = ("DELETE", "https://management.azure.com" + path)
    md, fake, events = cloud("azure", {**azure_routes(), delete: (202, b"")}, azure_self_delete=mode)
    md.terminate("idle")
    assert fake.requests[-1] == (*delete, {"Authorization": "Bearer eyJ"})
    assert events[-1] == "power-off"


def test_azure_never_deletes_a_group_that_is_not_this_runners() -> None:
    md, fake, events = cloud("azure", azure_routes(tag="ffffffff-0000-0000-0000-000000000000"))
    md.terminate("idle")
    assert [r for r in fake.requests if r[0] == "DELETE"] == []
    assert events[-1] == "power-off" and "does not match" in events[0]


def test_azure_self_delete_none_only_powers_off() -> None:
    md, fake, events = cloud("azure", azure_routes(), azure_self_delete="none")
    md.terminate("idle")
    assert fake.requests == [] and events == ["power-off"]


# ------------------------------------------------------- real HTTP on loopback


@pytest.fixture
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = 200 if self.headers.get("Metadata-Flavor") == "Google" else 403
            body = b"TRUE" if code == 200 else b"no header"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_http_client_against_a_loopback_metadata_server(server: str) -> None:
    assert http("GET", server + "/x", {"Metadata-Flavor": "Google"}) == (200, b"TRUE")
    assert http("GET", server + "/x", {}) == (403, b"no header")
    md = CloudMetadata({"cloud": "gcp", "gce_metadata_url": server}, power_off=lambda: None, log=lambda _m: None)
    assert md.interruption() == "GCP preemption"


def test_http_client_unreachable_is_status_zero() -> None:
    assert http("GET", "http://127.0.0.1:9/", {}, 0.5) == (0, b"")


# ------------------------------------------------------------ the Docker view


def test_docker_host_ignores_the_runner_and_preexisting_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker = tmp_path / "docker"
    docker.write_text(
        '#!/bin/sh\necho "$@" >>' + str(tmp_path / "calls") + "\n"
        "printf 'aaa runner-x\\nbbb proxy\\nccc 1f2e_build\\nddd 1f2e_pause\\n'\n"
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{allowed_tools(tmp_path / 'tools')}")  # no host systemctl, shutdown, ...
    baseline = tmp_path / "baseline"
    baseline.write_text("bbb\n")
    host = DockerHost("runner-x", "cml-runner.service", str(baseline))
    assert host.step_containers() == ["ccc", "ddd"]
    baseline.write_text("")
    assert host.step_containers() == ["bbb", "ccc", "ddd"]
    docker.write_text("#!/bin/sh\nexit 1\n")
    with pytest.raises(OSError, match="exit 1"):
        host.step_containers()


def test_the_agent_reads_the_real_runner_log_through_docker_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`docker logs` of the runner container holds the real lines: a step is busy from Getting step to
    Completing step, with no step container yet (an image pull)."""
    from test_agent_idle import GETTING_STEP, RUNNER_ONLINE, STEP_PASSED

    log_file = tmp_path / "runner.log"
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\ncase "$1" in logs) cat {log_file}; : >{log_file} ;; ps) ;; esac\n')
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{allowed_tools(tmp_path / 'tools')}")  # no host systemctl, shutdown, ...
    (tmp_path / "baseline").write_text("")
    host = DockerHost("runner-x", "cml-runner.service", str(tmp_path / "baseline"))
    clock = FakeClock()
    agent = Agent(idle_timeout_s=60, max_lifetime_s=3600, started_at=0, single=False, clock=clock, host=host,
                  cloud=_NoCloud(), log=lambda _m: None)  # fmt: skip
    log_file.write_text(RUNNER_ONLINE + "\n" + GETTING_STEP + "\n")
    assert agent.busy()
    clock.sleep(600)  # pulling a large image: no step container, no new line
    assert agent.busy()
    log_file.write_text(STEP_PASSED + "\n")
    assert not agent.busy()


def test_the_vm_host_drains_the_runner_with_no_restart_and_start_undoes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restart=always would bring a runner that exits on SIGTERM straight back: a runtime drop-in says
    Restart=no first (systemd reloaded before the signal), and starting the runner again removes it."""
    calls = tmp_path / "calls"
    for tool, answer in (("docker", 'case "$1" in inspect) echo true ;; esac\n'), ("systemctl", "")):
        stub = tmp_path / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >>{calls}\n{answer}')
        stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{allowed_tools(tmp_path / 'tools')}")  # no host systemctl, shutdown, ...
    host = DockerHost("runner-x", "cml-runner.service", str(tmp_path / "baseline"), root=str(tmp_path / "root"))
    host.drain_runner()
    drop_in = tmp_path / "root/run/systemd/system/cml-runner.service.d/50-cml-drain.conf"
    assert drop_in.read_text() == "[Service]\nRestart=no\n"
    assert calls.read_text().splitlines() == ["systemctl daemon-reload", "docker kill --signal TERM runner-x"]
    assert host.runner_running()
    host.start_runner()
    assert not drop_in.exists()
    assert calls.read_text().splitlines()[-2:] == ["systemctl daemon-reload", "systemctl start cml-runner.service"]


class _NoCloud:
    def interruption(self) -> str | None:
        return None

    def terminate(self, reason: str) -> None:
        raise AssertionError(reason)

"""CLOUD: kubernetes variables through the real entry point (bad input: exit 1, one line, no traceback, no
secret), the parsers on their own, the pod-trouble reading on plain dicts, and the idle agent in its pod."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.clock import FakeClock
from fixtures_pipe import output_lines, run_pipe, run_pipe_config_only, strip_ansi

from pipe.bootstrap.agent_pod import DockerSocketHost, main_in_pod
from pipe.bootstrap.render import BootConfig
from pipe.config.kubernetes import KubernetesOptions, Toleration, parse_node_selector, parse_tolerations
from pipe.config.variables import ConfigError
from pipe.providers.base import TAG_CREATED_AT, InstanceSpec
from pipe.providers.kubernetes.manifests import job_manifest
from pipe.providers.kubernetes.trouble import pod_trouble

TOKEN = "kube-token-Zx81Qw"
KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "ci",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
    "users": [{"name": "u", "user": {"token": TOKEN}}],
    "contexts": [{"name": "ci", "context": {"cluster": "c", "user": "u"}}],
}
RAW = yaml.safe_dump(KUBECONFIG)
K8S = {"CLOUD": "kubernetes", "KUBE_CONFIG": base64.b64encode(RAW.encode()).decode()}

CASES: list[tuple[str, dict[str, str], str]] = [
    ("region", {"CLOUD_REGION": "us-east"}, "CLOUD_REGION has no meaning with CLOUD: 'kubernetes'"),
    ("spot", {"CLOUD_SPOT": "true"}, "CLOUD_SPOT has no meaning with CLOUD: 'kubernetes'"),
    ("image", {"CLOUD_IMAGE": "ubuntu"}, "CLOUD_IMAGE has no meaning with CLOUD: 'kubernetes'"),
    ("disk", {"CLOUD_HDD_SIZE": "100"}, "CLOUD_HDD_SIZE has no meaning with CLOUD: 'kubernetes'"),
    ("script", {"CLOUD_STARTUP_SCRIPT": "echo"}, "CLOUD_STARTUP_SCRIPT has no meaning with CLOUD: 'kubernetes'"),
    ("selector", {"CLOUD_KUBERNETES_NODE_SELECTOR": "pool"}, "CLOUD_KUBERNETES_NODE_SELECTOR: 'pool' is not valid"),
    ("toleration", {"CLOUD_KUBERNETES_TOLERATIONS": "gpu:Sometimes"}, "CLOUD_KUBERNETES_TOLERATIONS: 'gpu:Sometimes'"),
    ("namespace", {"KUBERNETES_NAMESPACE": "ML_Runners"}, "KUBERNETES_NAMESPACE: 'ML_Runners' is not valid"),
    ("context", {"KUBERNETES_CONTEXT": "prod"}, "KUBERNETES_CONTEXT: 'prod' is not valid; KUBE_CONFIG has the"),
    ("not-kubeconfig", {"KUBE_CONFIG": "hello: world"}, "KUBE_CONFIG is not a kubeconfig"),
    ("both", {"KUBECONFIG": "/tmp/k"}, "KUBE_CONFIG and KUBECONFIG cannot both be set"),
    ("gpu-stock-dind", {"CLOUD_GPU": "t4"}, "KUBERNETES_DIND_IMAGE is required: with CLOUD_GPU"),
    ("gpu-retired", {"CLOUD_GPU": "k80", "KUBERNETES_DIND_IMAGE": "x:1"}, "K80 GPUs are retired"),
    ("native-type", {"CLOUD_TYPE": "m5.large"}, "CLOUD_TYPE: 'm5.large' is not valid; on kubernetes use one of s, m"),
    ("exec-plugin", {"KUBE_CONFIG": yaml.safe_dump({**KUBECONFIG, "users": [{"name": "u", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": ["eks", "get-token"]}}}]})},
     "KUBE_CONFIG: user 'u' signs in by running aws, which the pipe's image does not have"),
    ("on-aws", {"CLOUD": "aws", "CLOUD_KUBERNETES_NODE_SELECTOR": "a=b"}, "only with CLOUD: 'kubernetes'"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "extra", "line"), CASES, ids=[c[0] for c in CASES])
def test_bad_kubernetes_variables_are_one_line(case: str, extra: dict[str, str], line: str) -> None:
    # DRY_RUN: the whole plan is built (the catalog's checks too) and nothing is called
    proc = run_pipe({**K8S, "DEBUG": "true", "DRY_RUN": "true", **extra})
    out = strip_ansi(proc.stdout + proc.stderr)
    assert proc.returncode == 1, out
    assert line in strip_ansi(proc.stdout).strip().splitlines()[-1], out
    assert "Traceback" not in out
    assert TOKEN not in out


def test_raw_and_base64_kubeconfigs_are_both_valid_and_the_token_never_shows() -> None:
    for value in (RAW, K8S["KUBE_CONFIG"]):
        proc = run_pipe_config_only({**K8S, "KUBE_CONFIG": value, "DEBUG": "true"})
        assert proc.returncode == 0, "\n".join(output_lines(proc))
        assert TOKEN not in proc.stdout + proc.stderr


def test_tolerations_read_like_kubectl_taint() -> None:
    assert parse_tolerations("nvidia.com/gpu=present:NoSchedule, spot:NoExecute,dedicated=ml,gpu") == (
        Toleration("nvidia.com/gpu", "present", "NoSchedule"),
        Toleration("spot", "", "NoExecute"),
        Toleration("dedicated", "ml", ""),
        Toleration("gpu", "", ""),
    )
    assert Toleration("spot", "", "NoExecute").manifest() == {
        "key": "spot",
        "operator": "Exists",
        "effect": "NoExecute",
    }
    for bad in ("gpu:", "=x", "gpu:Never", "a b"):
        with pytest.raises(ConfigError):
            parse_tolerations(bad)
    assert parse_node_selector("pool=gpu, cloud.google.com/gke-accelerator=nvidia-tesla-t4") == {
        "pool": "gpu",
        "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
    }


def _pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "cml-a-x1"}, "status": status}


def test_pod_trouble_lines() -> None:
    unschedulable = _pod(
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes"}],
    )
    found = pod_trouble(unschedulable)
    assert found is not None and found.fatal and found.message == "pod cml-a-x1 cannot be scheduled: 0/1 nodes"
    scaling = pod_trouble(unschedulable, scaling_up=True)
    assert scaling is not None and not scaling.fatal and "autoscaler is adding a node" in scaling.message
    bad_name = _pod(
        containerStatuses=[{"name": "agent", "image": "::", "state": {"waiting": {"reason": "InvalidImageName"}}}]
    )
    assert (found := pod_trouble(bad_name)) is not None and found.fatal
    failed = _pod(
        phase="Failed",
        containerStatuses=[{"name": "agent", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}],
    )
    assert (found := pod_trouble(failed)) is not None and found.fatal
    assert found.message == "pod cml-a-x1 failed: container agent exited with 2 (Error)"
    assert pod_trouble(_pod(phase="Running", containerStatuses=[{"name": "agent", "state": {"running": {}}}])) is None


# -- the idle agent in the pod ----------------------------------------------------------------------------------


class _Docker(BaseHTTPRequestHandler):
    containers: list[dict[str, str]] = []

    def do_GET(self) -> None:
        assert self.path == "/containers/json"
        body = json.dumps(self.containers).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _UnixHttp(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self) -> None:
        self.socket.bind(self.server_address)

    def get_request(self) -> tuple[Any, Any]:
        request, _ = self.socket.accept()
        return request, ("local", 0)


def test_the_agent_in_the_pod_sees_step_containers_through_the_docker_socket_and_ends_when_idle(tmp_path: Path) -> None:
    path = str(tmp_path / "docker.sock")
    server = _UnixHttp(path, _Docker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Docker.containers = [{"Id": "step1"}]
        assert DockerSocketHost(path).step_containers() == ["step1"]

        clock = FakeClock(1000.0)
        said: list[str] = []
        steps = iter([[{"Id": "step1"}]] * 3 + [[]] * 1000)

        def tick(seconds: float) -> None:
            _Docker.containers = next(steps)
            clock.t += seconds

        clock.sleep = tick  # type: ignore[method-assign]
        config = {"idle_timeout_s": 60, "max_lifetime_s": 3600, "single": False, "started_at": 1000,
                  "docker_socket": path, "cloud": "kubernetes", "runner_uuid": "{u}"}  # fmt: skip
        assert main_in_pod({"CML_AGENT_CONFIG": json.dumps(config)}, clock, said.append) == 0
        assert any("step ended" in s for s in said), said
        assert said[-1].startswith("ending the pod: idle for 6")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(OSError):
        DockerSocketHost(str(tmp_path / "missing.sock")).step_containers()


def test_the_pods_idle_clock_runs_from_the_agents_start(tmp_path: Path) -> None:
    """The kubelet starts the agent once the runner sidecar has started (its image pulled); the runner's log is
    not visible in the pod, so the agent does not wait for its ONLINE line as the VM's does."""
    path = str(tmp_path / "docker.sock")
    server = _UnixHttp(path, _Docker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        _Docker.containers = []
        clock = FakeClock(1000.0)
        said: list[str] = []
        config = {"idle_timeout_s": 60, "max_lifetime_s": 3600, "single": False, "started_at": 1000,
                  "docker_socket": path, "cloud": "kubernetes", "runner_uuid": "{u}"}  # fmt: skip
        assert main_in_pod({"CML_AGENT_CONFIG": json.dumps(config)}, clock, said.append) == 0
        assert said[-1] == "ending the pod: idle for 60 s" and clock.t == 1060
    finally:
        server.shutdown()
        server.server_close()


def test_the_pods_agent_program_runs_as_the_job_starts_it_and_ends_the_pod_when_idle(tmp_path: Path) -> None:
    """What the pod's agent container really runs (the Job's command, one program: the shared decision and the
    pod's host, without the VM's code) is started as the kubelet would, against a Docker socket stand-in."""
    path = str(tmp_path / "docker.sock")
    server = _UnixHttp(path, _Docker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Docker.containers = []
    boot = BootConfig(
        cloud="kubernetes", account_uuid="{11111111-2222-3333-4444-555555555555}", repository_uuid="",
        runner_uuid="{21111111-2222-3333-4444-555555555555}", runner_name="cml-pod0000001", oauth_client_id="id",
        oauth_client_secret="secret", idle_timeout_s=0, max_lifetime_s=3600, single=False, gpu=False,
    )  # fmt: skip
    spec = InstanceSpec(
        name="cml-pod0000001", region="default", instance_type="1cpu-2Gi", image="docker:dind", disk_gb=0,
        user_data="", tags={TAG_CREATED_AT: str(int(time.time()))}, max_lifetime_s=3600, boot=boot,
    )  # fmt: skip
    [agent] = job_manifest(spec, KubernetesOptions())["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in agent["env"]}
    config = json.loads(env["CML_AGENT_CONFIG"])
    env["CML_AGENT_CONFIG"] = json.dumps({**config, "docker_socket": path})  # the pod's /var/run, here
    program = agent["command"][2]
    assert agent["command"][:2] == ["python3", "-c"]
    assert "class DockerSocketHost" in program
    assert "class CloudMetadata" not in program and "class DockerHost" not in program  # the VM's code stays on VMs
    try:
        done = subprocess.run(
            [sys.executable, "-c", program], env={"PATH": os.environ.get("PATH", ""), **env},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cml-agent: watching: idle timeout 0 s"), lines
    assert lines[-1] == "cml-agent: ending the pod: idle for 0 s", lines

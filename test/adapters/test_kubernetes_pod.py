"""The runner's pod as the pipe writes it, against the local Kubernetes' models of real nodes: each CLOUD_TYPE
fits the node its size names on GKE, EKS and AKS (allocatable, DaemonSets, native-sidecar requests), and what
the pod's containers are given (GPUs, the network's MTU) is what the pod's own programs read."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fakes.kubernetes import FakeKubernetes
from fakes.kubernetes.devices import ContainerView
from fakes.kubernetes.nodes import NODE_CLASSES
from fakes.kubernetes.scheduler import class_node, pod_requests, schedule

from pipe.bootstrap import gpu_runtime
from pipe.bootstrap.pod_programs import shipped_gpu_runtime
from pipe.bootstrap.render import BootConfig
from pipe.config.kubernetes import KubernetesOptions
from pipe.providers.base import TAG_CREATED_AT, InstanceSpec
from pipe.providers.catalog import resolve_machine
from pipe.providers.kubernetes.manifests import DOCKER_CONFIG_DIR, job_manifest

SIZES = ("s", "m", "l", "xl")
CLOUDS = ("gke", "eks", "aks")


def pod_spec(size: str, gpu: str = "", settings: KubernetesOptions | None = None) -> dict[str, Any]:
    machine = resolve_machine("kubernetes", size, gpu)
    boot = BootConfig(
        cloud="kubernetes", account_uuid="{11111111-2222-3333-4444-555555555555}", repository_uuid="",
        runner_uuid="{21111111-2222-3333-4444-555555555555}", runner_name="cml-pod0000001", oauth_client_id="id",
        oauth_client_secret="secret", idle_timeout_s=300, max_lifetime_s=3600, single=False, gpu=bool(gpu),
    )  # fmt: skip
    spec = InstanceSpec(
        name="cml-pod0000001", region="default", instance_type=machine.instance_type, image="docker:dind",
        disk_gb=0, user_data="", tags={TAG_CREATED_AT: str(int(time.time()))}, max_lifetime_s=3600, boot=boot,
        accelerator_count=machine.accelerator_count,
    )  # fmt: skip
    return dict(job_manifest(spec, settings or KubernetesOptions())["spec"]["template"]["spec"])


@pytest.mark.parametrize("cloud", CLOUDS)
@pytest.mark.parametrize("size", SIZES)
def test_each_cloud_type_is_scheduled_on_a_node_of_the_machine_type_it_names(size: str, cloud: str) -> None:
    """KEP-753: the sidecars' requests add to the agent's; the node keeps its cloud's reservations and runs its
    cloud's DaemonSets (fakes/kubernetes/nodes.py)."""
    machine = NODE_CLASSES[size][cloud][0]
    node, message = schedule([class_node(machine, size, cloud)], pod_spec(size), {})
    assert node == machine, message


def test_the_pod_asks_for_its_sidecars_and_its_container_together() -> None:
    wanted = pod_requests(pod_spec("s"))
    # Docker-in-Docker 1.1 CPU + the runner 250m + the agent 10m; 3.25 GiB + 1 GiB + 32 MiB.
    assert wanted["cpu"] == Decimal("1.36")
    assert wanted["memory"] == Decimal(int(3.25 * 2**30) + 2**30 + 32 * 2**20)


def test_a_size_does_not_fit_the_node_class_below_it() -> None:
    """The sizes are not small for nothing: m does not fit an s machine, and so on."""
    for smaller, size in itertools.pairwise(SIZES):
        node, message = schedule([class_node("n", smaller, "gke")], pod_spec(size), {})
        assert node is None and "Insufficient cpu" in message


def test_an_s_runner_starts_on_an_aks_d2s_v5_node_through_the_api(kube: FakeKubernetes, kube_api: Any) -> None:
    """The tightest machine of all: AKS keeps the most for itself on 2 vCPUs and 8 GiB."""
    from kubernetes import client

    kube.set_nodes(class_node("aks-d2s", "s", "aks"))
    body = {"metadata": {"name": "cml-pod0000001"}, "spec": {"template": {"spec": pod_spec("s")}}}
    client.BatchV1Api(kube_api).create_namespaced_job("default", body)
    [pod] = kube.objects("pods")
    assert pod["spec"].get("nodeName") == "aks-d2s", pod["status"].get("conditions")


def started_pod(kube: FakeKubernetes, kube_api: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from kubernetes import client

    body = {"metadata": {"name": "cml-pod0000001"}, "spec": {"template": {"spec": spec}}}
    client.BatchV1Api(kube_api).create_namespaced_job("default", body)
    [pod] = kube.objects("pods")
    assert pod["spec"].get("nodeName"), pod["status"].get("conditions")
    return pod


def run_docker_config(container: dict[str, Any], root: Path, out: Path) -> dict[str, Any]:
    """The init container's own command, run against what the local kubelet says it sees (under root)."""
    command = container["command"]
    assert command[:2] == ["python3", "-c"] and command[3] == DOCKER_CONFIG_DIR
    env = {"PATH": os.environ.get("PATH", ""), **{e["name"]: e["value"] for e in container.get("env") or []}}
    args = [sys.executable, "-c", command[2], str(out), *command[4:], "--root", str(root)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads((out / "daemon.json").read_text()))


@pytest.mark.parametrize("mtu", [1460, 1450])  # GKE's VPC; a VXLAN CNI (Flannel, Calico VXLAN)
def test_dockerd_in_the_pod_takes_its_mtu_from_the_pods_interface(
    kube: FakeKubernetes, kube_api: Any, tmp_path: Path, mtu: int
) -> None:
    kube.cluster.kubelet.pod_mtu = mtu
    pod = started_pod(kube, kube_api, pod_spec("s"))
    first, docker = pod["spec"]["initContainers"][:2]
    assert first["name"] == "docker-config" and "restartPolicy" not in first  # runs alone, before dockerd
    assert f"--config-file={DOCKER_CONFIG_DIR}/daemon.json" in docker["args"]
    mounts = {m["name"]: m for m in docker["volumeMounts"]}
    assert mounts["docker-config"]["mountPath"] == DOCKER_CONFIG_DIR
    kube.container_view(pod["metadata"]["name"], "docker-config").write(str(tmp_path / "root"))
    (tmp_path / "out").mkdir()
    config = run_docker_config(first, tmp_path / "root", tmp_path / "out")
    assert config["mtu"] == mtu
    assert config["default-network-opts"] == {"bridge": {"com.docker.network.driver.mtu": str(mtu)}}
    assert "default-runtime" not in config


def test_a_gpu_pod_on_a_node_with_more_gpus_gives_its_steps_only_its_own(
    kube: FakeKubernetes, kube_api: Any, tmp_path: Path
) -> None:
    """A privileged Docker-in-Docker container sees all four /dev/nvidia* of the node but was given one GPU;
    NVIDIA_VISIBLE_DEVICES=all (every CUDA image sets it) must mean that one (NVIDIA/nvidia-docker#1686)."""
    kube.add_node("gpu-1", cpu="16", memory="64Gi", gpus=4, cloud="gke", labels={"pool": "t4"})
    pod = started_pod(kube, kube_api, pod_spec("m", gpu="t4"))
    first = pod["spec"]["initContainers"][0]
    assert pod["spec"]["nodeName"] == "gpu-1" and "--gpu" in first["command"]
    seen = kube.container_view(pod["metadata"]["name"], "docker")
    assert len(seen.dev_nodes) == 4 and len(seen.gpus) == 1  # the node has more GPUs than the pod got
    seen.write(str(tmp_path / "root"))
    (tmp_path / "out").mkdir()
    config = run_docker_config(first, tmp_path / "root", tmp_path / "out")
    shim = tmp_path / "out" / "cml-nvidia"
    assert config["default-runtime"] == "cml-nvidia"
    assert config["runtimes"] == {"cml-nvidia": {"path": str(shim)}}  # /etc/cml-docker/cml-nvidia in the pod
    assert shim.read_text() == shipped_gpu_runtime() and os.access(shim, os.X_OK)

    own = gpu_runtime.own_gpus(str(tmp_path / "root"))
    [pod_gpu] = [uuid for _, uuid, _ in seen.gpus]
    assert own == [pod_gpu] and seen.env["NVIDIA_VISIBLE_DEVICES"] == pod_gpu
    for asked, given in (("all", pod_gpu), (None, pod_gpu), ("0", pod_gpu), ("void", "void"), ("1", "void")):
        spec = {"process": {"env": [] if asked is None else [f"NVIDIA_VISIBLE_DEVICES={asked}"]}}
        gpu_runtime.add_gpu_defaults(spec, own)
        env = dict(item.split("=", 1) for item in spec["process"]["env"])
        assert env["NVIDIA_VISIBLE_DEVICES"] == given, asked


def test_on_a_vm_or_a_pod_given_every_gpu_the_shim_keeps_all(tmp_path: Path) -> None:
    whole = ContainerView(dev_nodes=[0, 1], gpus=[("0000:1b:00.0", "GPU-a", 0), ("0000:1c:00.0", "GPU-b", 1)])
    whole.write(str(tmp_path))
    assert gpu_runtime.own_gpus(str(tmp_path)) is None
    spec = {"process": {"env": ["NVIDIA_VISIBLE_DEVICES=all"]}}
    assert gpu_runtime.add_gpu_defaults(spec, None) is False
    assert spec["process"]["env"] == ["NVIDIA_VISIBLE_DEVICES=all"]

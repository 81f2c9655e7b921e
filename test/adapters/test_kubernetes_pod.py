"""The runner's pod as the pipe writes it, against the local Kubernetes' models of real nodes: each CLOUD_TYPE
fits the node its size names on GKE, EKS and AKS (allocatable, DaemonSets, native-sidecar requests), and what
the pod's containers are given (GPUs, the network's MTU) is what the pod's own programs read."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import pytest
from fakes.kubernetes import FakeKubernetes
from fakes.kubernetes.nodes import NODE_CLASSES
from fakes.kubernetes.scheduler import class_node, pod_requests, schedule

from pipe.bootstrap.render import BootConfig
from pipe.config.kubernetes import KubernetesOptions
from pipe.providers.base import TAG_CREATED_AT, InstanceSpec
from pipe.providers.catalog import resolve_machine
from pipe.providers.kubernetes.manifests import job_manifest

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

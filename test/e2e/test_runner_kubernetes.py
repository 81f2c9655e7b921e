"""CLOUD: kubernetes through the real entry point: `python -m pipe` against the local Kubernetes (the real
`kubernetes` client over HTTPS), the local Bitbucket, and a stand-in for the runner container that presents
the OAuth credentials it finds in its environment. What a user sees, what exists afterwards, nothing left."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fakes.bitbucket import FakeBitbucket
from fakes.kubernetes import DEFAULT_TOKEN, FakeKubernetes
from fixtures_pipe import output_lines, run_pipe, strip_ansi
from pod_standin import PodStandIn

from pipe.providers.base import TAG_MANAGED_BY, TAG_REPOSITORY, TAG_RUNNER_SCOPE, TAG_RUNNER_UUID
from pipe.providers.tags import our_tags
from pipe.runner.plan import MARKER_LABEL

NS = "default"
ANOTHER_REPO_UUID = "{0a0a0a0a-1111-4222-8333-444444444444}"


@pytest.fixture
def env(kube: FakeKubernetes, bb_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    return {
        **kube.env(),
        **bb_env,
        "CLOUD_TYPE": "s",
        "WAIT_TIMEOUT": "30s",
        "CML_RUNNER_POLL_SECONDS": "0.1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture
def pods(kube: FakeKubernetes, bitbucket: FakeBitbucket) -> Iterator[PodStandIn]:
    standin = PodStandIn(kube, f"{bitbucket.root_url}/_fake/oauth2/token").start()
    yield standin
    standin.stop()


def ours(kube: FakeKubernetes) -> dict[str, list[str]]:
    """Everything left in the cluster, by kind (events aside: they are the cluster's record, not ours)."""
    return {kind: [o["metadata"]["name"] for o in kube.objects(kind)] for kind in ("jobs", "pods", "secrets")}


NOTHING = {"jobs": [], "pods": [], "secrets": []}


def runners(bitbucket: FakeBitbucket) -> list[Any]:
    return list(bitbucket.repo().runners.values())


def failure_line(proc: Any) -> str:
    return strip_ansi(proc.stdout).strip().splitlines()[-1]


# -- launch -------------------------------------------------------------------------------------------------


def test_launch_runs_one_job_whose_runner_comes_online_with_credentials_only_in_its_secret(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket, pods: PodStandIn
) -> None:
    proc = run_pipe({**env, "LABELS": "cml.runner,cml.k8s"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out

    [runner] = runners(bitbucket)
    assert runner.status == "ONLINE"
    [job] = kube.objects("jobs")
    name = job["metadata"]["name"]
    assert name == runner.name
    labels = job["metadata"]["labels"]
    assert labels[TAG_MANAGED_BY] == "cml-runner-pipe"
    assert labels[TAG_RUNNER_UUID] == runner.uuid.strip("{}")
    # The repository's UUID names the repository (collision-free); the scope says where to look the runner up.
    assert labels[TAG_REPOSITORY] == bitbucket.repo().uuid.strip("{}")
    assert labels[TAG_RUNNER_SCOPE] == "repository"
    assert labels.items() <= job["spec"]["template"]["metadata"]["labels"].items()  # the pod's, too
    annotations = job["metadata"]["annotations"]
    assert annotations["cml-runner-pipe/repository-uuid"] == bitbucket.repo().uuid
    assert annotations["cml-runner-pipe/runner-uuid"] == runner.uuid
    assert annotations["cml-runner-pipe/expires-at"] > annotations["cml-runner-pipe/created-at"]
    assert job["spec"]["activeDeadlineSeconds"] == 12 * 3600  # MAX_LIFETIME's default
    assert job["spec"]["ttlSecondsAfterFinished"] > 0

    [secret] = kube.objects("secrets")
    [owner] = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", name, job["metadata"]["uid"])
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"oauth_client_id": runner.oauth_client_id, "oauth_client_secret": runner.oauth_client_secret}
    pod_spec = json.dumps(job["spec"]["template"])
    assert runner.oauth_client_secret not in pod_spec and runner.oauth_client_id not in pod_spec
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False

    booted = pods.booted[name]
    assert booted.online
    assert booted.runner_env["RUNNER_UUID"] == runner.uuid
    assert booted.runner_env["REPOSITORY_UUID"] == bitbucket.repo().uuid
    assert booted.runner_env["ACCOUNT_UUID"] == bitbucket.repo().workspace.uuid

    assert f"Runner {name} is ONLINE on kubernetes instance {name}" in out
    for secret_text in (runner.oauth_client_secret, DEFAULT_TOKEN, env["BITBUCKET_ACCESS_TOKEN"]):
        assert secret_text not in proc.stdout + proc.stderr
    assert kube.requests and all(
        r.path.startswith(("/apis/batch/v1/namespaces/default/", "/api/v1/namespaces/default/")) for r in kube.requests
    )


def test_the_gpu_configuration_the_pipe_writes(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket, pods: PodStandIn
) -> None:
    kube.add_node("gpu-1", cpu="64", memory="256Gi", gpus=4, labels={"pool": "t4"},
                  taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])  # fmt: skip
    gpu_env = {
        **env,
        "CLOUD_TYPE": "l",
        "CLOUD_GPU": "t4",
        "KUBERNETES_DIND_IMAGE": "registry.example.com/ci/dind-nvidia:27",
        "CLOUD_KUBERNETES_NODE_SELECTOR": "pool=t4",
        "CLOUD_KUBERNETES_TOLERATIONS": "nvidia.com/gpu=present:NoSchedule",
    }
    proc = run_pipe(gpu_env)
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    [job] = kube.objects("jobs")
    spec = job["spec"]["template"]["spec"]
    docker = next(c for c in spec["initContainers"] if c["name"] == "docker")
    assert docker["image"] == "registry.example.com/ci/dind-nvidia:27"
    quantities = {"cpu": "30", "memory": "104Gi", "nvidia.com/gpu": "4"}  # l: 4 GPUs, as g4dn.12xlarge
    assert docker["resources"] == {"requests": quantities, "limits": quantities}
    # dockerd's configuration (the GPU runtime shim as its default runtime, the pod's MTU) comes from the pod's
    # first init container (test/adapters/test_kubernetes_pod.py runs it against what the kubelet shows it).
    daemon = ["dockerd", "--host=unix:///var/run/docker.sock", "--config-file=/etc/cml-docker/daemon.json"]
    assert docker["args"] == daemon
    config = spec["initContainers"][0]
    assert config["name"] == "docker-config" and config["command"][3:] == ["/etc/cml-docker", "--gpu"]
    assert docker["securityContext"] == {"privileged": True}
    assert spec["nodeSelector"] == {"pool": "t4"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]
    [pod] = kube.objects("pods")
    assert pod["spec"]["nodeName"] == "gpu-1"


# -- trouble while waiting ----------------------------------------------------------------------------------


def test_an_unschedulable_pod_fails_fast_with_the_schedulers_reason_and_rolls_back(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    gpu_env = {**env, "CLOUD_GPU": "t4", "KUBERNETES_DIND_IMAGE": "dind-nvidia:27", "WAIT_TIMEOUT": "10min"}
    started = time.monotonic()
    proc = run_pipe(gpu_env)
    assert proc.returncode == 1, proc.stdout
    last = failure_line(proc)
    assert "cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu." in last
    assert "rolled back" in last
    assert time.monotonic() - started < 60  # not the 10-minute WAIT_TIMEOUT
    assert ours(kube) == NOTHING
    assert runners(bitbucket) == []
    assert "Traceback" not in proc.stdout + proc.stderr


def test_an_unschedulable_pod_the_autoscaler_is_scaling_up_for_is_waited_for(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    kube.behaviour.autoscaler = True
    proc = run_pipe({**env, "CLOUD_GPU": "t4", "KUBERNETES_DIND_IMAGE": "dind-nvidia:27", "WAIT_TIMEOUT": "3s"})
    assert proc.returncode == 1, proc.stdout
    last = failure_line(proc)
    assert "did not come ONLINE within 3s" in last
    assert "cannot be scheduled: 0/3 nodes are available" in last and "the cluster autoscaler is adding a node" in last
    assert ours(kube) == NOTHING
    assert runners(bitbucket) == []


@pytest.mark.parametrize(
    ("arrange", "said"),
    [
        (lambda kube: kube.behaviour.bad_images.add("docker:dind"), "container docker cannot pull image docker:dind"),
        (lambda kube: kube.behaviour.crashing.update(runner=1), "container runner keeps crashing (CrashLoopBackOff"),
    ],
    ids=["image-pull", "crash-loop"],
)
def test_pod_trouble_is_reported_once_and_named_when_the_wait_times_out(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket, arrange: Any, said: str
) -> None:
    arrange(kube)
    proc = run_pipe({**env, "WAIT_TIMEOUT": "3s"})
    lines = output_lines(proc)
    assert proc.returncode == 1, "\n".join(lines)
    reported = [line for line in lines if said in line]
    assert reported, "\n".join(lines)
    assert len([line for line in lines if said in line and "WARNING" in line]) == 1  # one line, not one per poll
    last = failure_line(proc)
    assert "did not come ONLINE within 3s" in last and "last trouble:" in last and said in last
    assert ours(kube) == NOTHING
    assert runners(bitbucket) == []


def test_a_secret_the_cluster_fails_to_write_rolls_back_the_job_and_the_runner(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    kube.fail("POST", r"/secrets$", status=500)  # the Job exists, its Secret cannot be written
    proc = run_pipe(env)
    assert proc.returncode == 1, proc.stdout
    last = failure_line(proc)
    assert "Kubernetes failed to create Secret" in last and "rolled back" in last
    assert ours(kube) == NOTHING
    assert runners(bitbucket) == []


def test_missing_rights_are_one_line_naming_the_verb_and_the_role(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    kube.add_token("lister", {("list", "jobs")}, user="system:serviceaccount:ci:lister")
    proc = run_pipe({**env, **kube.env(token="lister")})
    assert proc.returncode == 1
    last = failure_line(proc)
    assert 'cannot create resource "jobs" in API group "batch" in the namespace "default"' in last
    assert "Role in the README" in last
    assert runners(bitbucket) == []
    assert "lister" not in proc.stdout + proc.stderr.replace("system:serviceaccount:ci:lister", "")


# The Role in README.md's Prerequisites, as (verb, resource) pairs.
README_ROLE = {
    *(("create", "jobs"), ("get", "jobs"), ("list", "jobs"), ("delete", "jobs")),
    *(("create", "secrets"), ("delete", "secrets")),
    *(("list", "pods"), ("list", "events")),
}


def test_the_readmes_role_is_enough_where_owner_references_are_enforced(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket, pods: PodStandIn
) -> None:
    """OpenShift's OwnerReferencesPermissionEnforcement: no blockOwnerDeletion on the Secret (it would need
    update on jobs/finalizers), and the Role may delete Secrets (an ownerReference needs it)."""
    assert kube.owner_references_enforcement
    kube.add_token("role", README_ROLE, user="system:serviceaccount:ci:cml-runner")
    proc = run_pipe({**env, **kube.env(token="role")})
    assert proc.returncode == 0, "\n".join(output_lines(proc))
    [secret] = kube.objects("secrets")
    [owner] = secret["metadata"]["ownerReferences"]
    assert "blockOwnerDeletion" not in owner


# -- sweep ----------------------------------------------------------------------------------------------------


def _seed_job(kube: FakeKubernetes, name: str, labels: dict[str, str], namespace: str = NS) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config_dict(kube.kubeconfig())
    body = {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "agent", "image": "busybox:1"}]}}
        },
    }
    client.BatchV1Api(api).create_namespaced_job(namespace, body)


def test_sweep_deletes_expired_and_orphaned_jobs_of_ours_in_its_namespace_only(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket, bb_client: Any
) -> None:
    live = bb_client.create_runner("cml-live000001", ["self.hosted", "linux", MARKER_LABEL]).runner.uuid
    with bitbucket.lock:
        state = bitbucket.runner(live)
        state.connected = state.ever_connected = True
    now = int(time.time())

    def tags(runner_uuid: str, *, expires_at: int, repo: str = bitbucket.repo().uuid) -> dict[str, str]:
        return our_tags(runner_uuid=runner_uuid, repository_uuid=repo, runner_scope="repository", pipeline="7",
                        created_at=now - 7200, expires_at=expires_at)  # fmt: skip

    gone = "{0badc0de-0000-4000-8000-000000000001}"
    kube.add_namespace("elsewhere")
    _seed_job(kube, "cml-expired001", tags(live, expires_at=now - 60))
    _seed_job(kube, "cml-orphan0001", tags(gone, expires_at=now + 3600))
    _seed_job(kube, "cml-live000001", tags(live, expires_at=now + 3600))
    _seed_job(kube, "cml-otherrepo1", tags(gone, expires_at=now + 3600, repo=ANOTHER_REPO_UUID))
    _seed_job(kube, "team-job", {"team": "someone-else"})
    _seed_job(kube, "cml-orphan0002", tags(gone, expires_at=now + 3600), namespace="elsewhere")

    proc = run_pipe({**env, "COMMAND": "sweep"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    left = sorted(f"{j['metadata']['namespace']}/{j['metadata']['name']}" for j in kube.objects("jobs"))
    assert left == ["default/cml-live000001", "default/cml-otherrepo1", "default/team-job", "elsewhere/cml-orphan0002"]
    assert not [p for p in kube.objects("pods") if p["metadata"]["labels"]["batch.kubernetes.io/job-name"] in
                ("cml-expired001", "cml-orphan0001")]  # fmt: skip
    assert "2 instance(s) terminated" in out


# -- dry run, lazy import, variables --------------------------------------------------------------------------


def test_dry_run_prints_the_manifests_with_secrets_masked_and_only_reads(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    proc = run_pipe({**env, "DRY_RUN": "true", "DEBUG": "true", "CLOUD_KUBERNETES_NODE_SELECTOR": "pool=ml"})
    out = strip_ansi(proc.stdout + proc.stderr)
    assert proc.returncode == 0, out
    # The credentials check (issue 30 item 6; this test used to assert no request at all): one read of our Jobs.
    assert [(r.method, r.path) for r in kube.requests] == [("GET", "/apis/batch/v1/namespaces/default/jobs")]
    assert "Credentials: the kubernetes credentials the launch would use work" in out
    assert bitbucket.request_count() == 0 and kube.objects("jobs") == []
    manifests = out.split("Kubernetes manifests (secrets masked):", 1)[1]
    job, secret = list(yaml.safe_load_all(manifests.split("\n✔", 1)[0].split("\nINFO", 1)[0]))[:2]
    assert job["kind"] == "Job" and job["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "ml"}
    assert secret["kind"] == "Secret" and set(secret["data"].values()) == {"***"}
    assert DEFAULT_TOKEN not in out
    assert "namespace: default" in out


def test_a_kubernetes_run_loads_the_kubernetes_sdk_and_no_cloud_sdk(
    kube: FakeKubernetes, env: dict[str, str], bitbucket: FakeBitbucket
) -> None:
    from test_contract_clouds import IMPORT_PROBE, SDK_MODULES

    proc = run_pipe({**env, "COMMAND": "sweep"}, args=("-c", IMPORT_PROBE))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe = next(line for line in proc.stderr.splitlines() if line.startswith("IMPORTED "))
    modules = json.loads(probe.removeprefix("IMPORTED "))
    assert "kubernetes" in modules
    clouds = tuple(p for cloud in ("aws", "gcp", "azure") for p in SDK_MODULES[cloud])
    assert not [m for m in modules if any(m == p or m.startswith(p + ".") for p in clouds)]

    # DRY_RUN checks the cluster's credentials with the Kubernetes SDK (issue 30 item 6; it used to load no SDK),
    # and still loads no VM cloud's SDK.
    dry = run_pipe({**env, "DRY_RUN": "true"}, args=("-c", IMPORT_PROBE))
    probe = next(line for line in dry.stderr.splitlines() if line.startswith("IMPORTED "))
    modules = json.loads(probe.removeprefix("IMPORTED "))
    assert "kubernetes" in modules, "DRY_RUN's credentials check uses the SDK"
    assert not [m for m in modules if any(m == p or m.startswith(p + ".") for p in clouds)]

"""The local Kubernetes, driven by the real `kubernetes` client over HTTPS: the rules it enforces are the API
server's, the scheduler's, the Job controller's and the garbage collector's, so the provider's tests mean
something. Each test says which rule it holds the fake to."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
import urllib3
from fakes.kubernetes import FakeKubernetes
from kubernetes import client, config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

NS = "default"


def job_manifest(name: str = "runner-1", **spec: Any) -> dict[str, Any]:
    """A Job shaped like the pipe's: native sidecars (runner, docker) and one regular container (agent)."""
    body: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"cml-managed-by": "cml-runner-pipe"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"cml-managed-by": "cml-runner-pipe"}},
                "spec": {
                    "restartPolicy": "Never",
                    "initContainers": [
                        {"name": "docker", "image": "docker:dind", "restartPolicy": "Always"},
                        {"name": "runner", "image": "atlassian/runner:1", "restartPolicy": "Always"},
                    ],
                    "containers": [
                        {
                            "name": "agent",
                            "image": "python:3.12-alpine",
                            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                        }
                    ],
                },
            },
        },
    }
    body["spec"].update(spec)
    return body


def secret_manifest(job: Any, name: str = "runner-1-oauth") -> dict[str, Any]:
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job.metadata.name, "uid": job.metadata.uid}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "ownerReferences": [owner]},
        "data": {"oauth_client_secret": base64.b64encode(b"s3cret").decode()},
    }


def apis(api: ApiClient) -> tuple[client.BatchV1Api, client.CoreV1Api]:
    return client.BatchV1Api(api), client.CoreV1Api(api)


def only_pod(core: client.CoreV1Api, job: str = "runner-1") -> Any:
    [pod] = core.list_namespaced_pod(NS, label_selector=f"batch.kubernetes.io/job-name={job}").items
    return pod


def names(items: list[Any]) -> list[str]:
    return sorted(i.metadata.name for i in items)


def message(error: ApiException) -> str:
    return str(json.loads(error.body)["message"])


def condition(obj: Any, type_: str) -> Any:
    return next((c for c in obj.status.conditions or [] if c.type == type_), None)


# -- transport: HTTPS with the server's own CA, bearer tokens ----------------------------------------------


def test_the_client_needs_the_servers_ca_and_a_known_token(kube: FakeKubernetes) -> None:
    good = config.new_client_from_config_dict(kube.kubeconfig())
    assert client.VersionApi(good).get_code().git_version == "v1.35.0"

    stranger = config.new_client_from_config_dict(kube.kubeconfig(token="not-a-token"))
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(stranger).list_namespaced_pod(NS)
    assert refused.value.status == 401

    untrusted = copy.deepcopy(kube.kubeconfig())
    del untrusted["clusters"][0]["cluster"]["certificate-authority-data"]
    no_ca = config.new_client_from_config_dict(untrusted)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as untrusted_answer:
        client.CoreV1Api(no_ca).list_namespaced_pod(NS)
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted_answer.value)


def test_a_token_without_the_verb_is_forbidden_with_the_servers_wording(kube: FakeKubernetes) -> None:
    kube.add_token("read-only", {("list", "jobs")}, user="system:serviceaccount:ci:reader")
    reader = config.new_client_from_config_dict(kube.kubeconfig(token="read-only"))
    assert client.BatchV1Api(reader).list_namespaced_job(NS).items == []
    with pytest.raises(ApiException) as refused:
        client.BatchV1Api(reader).create_namespaced_job(NS, job_manifest())
    assert refused.value.status == 403
    assert message(refused.value) == (
        'jobs.batch is forbidden: User "system:serviceaccount:ci:reader" cannot create resource "jobs" in API group '
        '"batch" in the namespace "default"'
    )


# -- the Job controller, the scheduler and the kubelet -------------------------------------------------------


def test_a_job_gets_one_pod_with_the_job_labels_and_a_controller_reference(
    kube: FakeKubernetes, kube_api: ApiClient
) -> None:
    batch, core = apis(kube_api)
    job = batch.create_namespaced_job(NS, job_manifest(), field_validation="Strict")
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": job.metadata.uid}

    pod = only_pod(core)
    assert pod.metadata.labels["batch.kubernetes.io/job-name"] == "runner-1"
    assert pod.metadata.labels["cml-managed-by"] == "cml-runner-pipe"
    [owner] = pod.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Job", "runner-1", job.metadata.uid, True)
    assert pod.status.phase == "Running"
    assert pod.spec.node_name.startswith("node-")
    assert [s.name for s in pod.status.init_container_statuses] == ["docker", "runner"]
    assert all(s.state.running for s in [*pod.status.init_container_statuses, *pod.status.container_statuses])
    assert batch.read_namespaced_job("runner-1", NS).status.active == 1
    reasons = [
        e.reason for e in core.list_namespaced_event(NS, field_selector=f"involvedObject.uid={pod.metadata.uid}").items
    ]
    assert {"Scheduled", "Pulled", "Created", "Started"} <= set(reasons)


@pytest.mark.parametrize(
    ("nodes", "pod_spec", "message"),
    [
        (
            {},
            {"containers": [{"name": "agent", "image": "a:1", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
            "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod..",
        ),
        (
            {"gpu-1": {"gpus": 1, "labels": {"pool": "gpu"}}},
            {"nodeSelector": {"pool": "a100"}, "containers": [{"name": "agent", "image": "a:1"}]},
            "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are "
            "available: 4 Preemption is not helpful for scheduling..",
        ),
        (
            {"gpu-1": {"gpus": 1, "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]}},
            {"containers": [{"name": "agent", "image": "a:1", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
            "0/4 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, 3 Insufficient "
            "nvidia.com/gpu. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, "
            "3 No preemption victims found for incoming pod..",
        ),
    ],
    ids=["no-gpu-anywhere", "selector-matches-nothing", "gpu-node-tainted"],
)
def test_an_unschedulable_pod_says_why_as_the_scheduler_does(
    kube: FakeKubernetes, kube_api: ApiClient, nodes: dict[str, Any], pod_spec: dict[str, Any], message: str
) -> None:
    for name, options in nodes.items():
        kube.add_node(name, **options)
    batch, core = apis(kube_api)
    manifest = job_manifest()
    manifest["spec"]["template"]["spec"] = {"restartPolicy": "Never", **pod_spec}
    batch.create_namespaced_job(NS, manifest)
    pod = only_pod(core)
    scheduled = condition(pod, "PodScheduled")
    assert (pod.status.phase, scheduled.status, scheduled.reason) == ("Pending", "False", "Unschedulable")
    assert scheduled.message == message
    [event] = core.list_namespaced_event(NS, field_selector="reason=FailedScheduling").items
    assert (event.type, event.message, event.source.component) == ("Warning", message, "default-scheduler")


def test_a_tolerated_gpu_node_takes_the_pod(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    kube.add_node("gpu-1", gpus=1, labels={"pool": "gpu"}, taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    batch, core = apis(kube_api)
    manifest = job_manifest()
    spec = manifest["spec"]["template"]["spec"]
    spec["nodeSelector"] = {"pool": "gpu"}
    spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    spec["initContainers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    batch.create_namespaced_job(NS, manifest)
    pod = only_pod(core)
    assert (pod.spec.node_name, pod.status.phase) == ("gpu-1", "Running")


def test_an_image_that_cannot_be_pulled_goes_errimagepull_then_imagepullbackoff(
    kube: FakeKubernetes, kube_api: ApiClient
) -> None:
    kube.behaviour.bad_images.add("atlassian/runner:1")
    batch, core = apis(kube_api)
    batch.create_namespaced_job(NS, job_manifest())
    first = only_pod(core)  # the create's own settle pulled once, the list another time
    runner = next(s for s in first.status.init_container_statuses if s.name == "runner")
    assert runner.state.waiting.reason == "ImagePullBackOff"
    assert runner.state.waiting.message == 'Back-off pulling image "atlassian/runner:1"'
    assert first.status.phase == "Pending"
    assert first.status.container_statuses[0].state.waiting.reason == "PodInitializing"
    events = core.list_namespaced_event(NS, field_selector=f"involvedObject.name={first.metadata.name}").items
    messages = {e.reason: e.message for e in events}
    assert messages["Failed"].startswith('Failed to pull image "atlassian/runner:1"')
    assert messages["BackOff"] == 'Back-off pulling image "atlassian/runner:1"'


def test_a_crashing_sidecar_loops_and_a_crashing_main_container_fails_the_job(
    kube: FakeKubernetes, kube_api: ApiClient
) -> None:
    batch, core = apis(kube_api)
    kube.behaviour.crashing["runner"] = 1
    batch.create_namespaced_job(NS, job_manifest())
    pod = only_pod(core)
    runner = next(s for s in pod.status.init_container_statuses if s.name == "runner")
    assert runner.state.waiting.reason == "CrashLoopBackOff"
    assert runner.restart_count >= 1 and runner.last_state.terminated.exit_code == 1
    assert pod.status.phase == "Pending"  # the regular container never started

    kube.behaviour.crashing.clear()
    kube.behaviour.crashing["agent"] = 3  # restartPolicy Never: terminated for good
    batch.create_namespaced_job(NS, job_manifest("runner-2"))
    pod = only_pod(core, "runner-2")
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 3
    failed = condition(batch.read_namespaced_job("runner-2", NS), "Failed")
    assert (failed.status, failed.reason) == ("True", "BackoffLimitExceeded")


def test_a_container_waits_for_the_secret_its_env_reads(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    batch, core = apis(kube_api)
    manifest = job_manifest()
    runner = manifest["spec"]["template"]["spec"]["initContainers"][1]
    ref = {"name": "runner-1-oauth", "key": "oauth_client_secret"}
    runner["env"] = [{"name": "OAUTH_CLIENT_SECRET", "valueFrom": {"secretKeyRef": ref}}]
    job = batch.create_namespaced_job(NS, manifest)
    waiting = next(s for s in only_pod(core).status.init_container_statuses if s.name == "runner").state.waiting
    assert (waiting.reason, waiting.message) == ("CreateContainerConfigError", 'secret "runner-1-oauth" not found')
    core.create_namespaced_secret(NS, secret_manifest(job))
    pod = only_pod(core)
    assert pod.status.phase == "Running"
    assert all(s.state.running for s in pod.status.init_container_statuses)


def test_hold_keeps_pods_in_containercreating(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    kube.behaviour.hold = True
    batch, core = apis(kube_api)
    batch.create_namespaced_job(NS, job_manifest())
    pod = only_pod(core)
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"


# -- lifetimes on the fake clock -------------------------------------------------------------------------------


def test_a_finished_job_goes_ttl_seconds_later_with_its_pod_and_secret(
    kube: FakeKubernetes, kube_api: ApiClient
) -> None:
    batch, core = apis(kube_api)
    job = batch.create_namespaced_job(NS, job_manifest(ttlSecondsAfterFinished=300))
    core.create_namespaced_secret(NS, secret_manifest(job))
    pod = only_pod(core)

    kube.exit_container(pod.metadata.name, "agent", 0)  # the agent ends the pod
    pod = only_pod(core)
    assert pod.status.phase == "Succeeded"
    assert all(s.state.terminated for s in pod.status.init_container_statuses)  # sidecars stopped after it
    done = batch.read_namespaced_job("runner-1", NS)
    assert condition(done, "Complete").status == "True" and done.status.succeeded == 1

    kube.advance(299)
    assert names(batch.list_namespaced_job(NS).items) == ["runner-1"]
    kube.advance(1)
    assert batch.list_namespaced_job(NS).items == []
    assert core.list_namespaced_pod(NS).items == []
    assert core.list_namespaced_secret(NS).items == []


def test_active_deadline_fails_the_job_and_removes_its_running_pod(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    batch, core = apis(kube_api)
    batch.create_namespaced_job(NS, job_manifest(activeDeadlineSeconds=3600))
    kube.advance(3599)
    assert only_pod(core).status.phase == "Running"
    kube.advance(1)
    failed = condition(batch.read_namespaced_job("runner-1", NS), "Failed")
    assert (failed.reason, failed.message) == ("DeadlineExceeded", "Job was active longer than specified deadline")
    assert core.list_namespaced_pod(NS).items == []


# -- deletion and garbage collection ---------------------------------------------------------------------------


def test_deleting_a_job_without_a_policy_orphans_its_pods_as_batch_v1_does(
    kube: FakeKubernetes, kube_api: ApiClient
) -> None:
    batch, core = apis(kube_api)
    job = batch.create_namespaced_job(NS, job_manifest())
    core.create_namespaced_secret(NS, secret_manifest(job))
    _, status, headers = batch.delete_namespaced_job_with_http_info("runner-1", NS)
    assert status == 200
    assert "child pods are preserved by default when jobs are deleted" in headers["Warning"]
    orphan = only_pod(core)
    assert orphan.metadata.owner_references is None
    assert names(core.list_namespaced_secret(NS).items) == ["runner-1-oauth"]


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_deleting_a_job_with_propagation_takes_its_pods_and_secrets(
    kube: FakeKubernetes, kube_api: ApiClient, policy: str
) -> None:
    batch, core = apis(kube_api)
    job = batch.create_namespaced_job(NS, job_manifest())
    core.create_namespaced_secret(NS, secret_manifest(job))
    answer = batch.delete_namespaced_job("runner-1", NS, body=client.V1DeleteOptions(propagation_policy=policy))
    if policy == "Background":  # gone at once: the answer is a Status naming it
        assert answer.status == "Success" and answer.details.uid == job.metadata.uid
    assert batch.list_namespaced_job(NS).items == []
    assert core.list_namespaced_pod(NS).items == []
    assert core.list_namespaced_secret(NS).items == []


def test_a_foreground_delete_answers_with_the_marked_owner(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    batch, _ = apis(kube_api)
    batch.create_namespaced_job(NS, job_manifest())
    data, status, _ = batch.delete_namespaced_job_with_http_info(
        "runner-1", NS, propagation_policy="Foreground", _preload_content=False
    )
    body = json.loads(data.data)
    assert status == 200
    assert body["kind"] == "Job" and body["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert body["metadata"]["deletionTimestamp"]
    assert kube.objects("jobs") == [] and kube.objects("pods") == []


# -- lists: selectors and pages --------------------------------------------------------------------------------


def test_label_selectors_field_selectors_and_pages(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    _, core = apis(kube_api)
    for i, (team, tier) in enumerate([("ml", "gpu"), ("ml", "cpu"), ("web", "cpu"), ("ml", "")]):
        labels = {"team": team, **({"tier": tier} if tier else {})}
        core.create_namespaced_secret(NS, {"metadata": {"name": f"s{i}", "labels": labels}, "data": {}})

    def listed(**query: Any) -> list[str]:
        return names(core.list_namespaced_secret(NS, **query).items)

    assert listed(label_selector="team=ml") == ["s0", "s1", "s3"]
    assert listed(label_selector="team==ml,tier!=gpu") == ["s1", "s3"]
    assert listed(label_selector="tier in (gpu, cpu),team notin (web)") == ["s0", "s1"]
    assert listed(label_selector="!tier") == ["s3"]
    assert listed(label_selector="tier") == ["s0", "s1", "s2"]
    assert listed(field_selector="metadata.name=s2") == ["s2"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_secret(NS, field_selector="data.x=1")
    assert bad.value.status == 400 and message(bad.value) == "field label not supported: data.x"

    first = core.list_namespaced_secret(NS, limit=3)
    assert len(first.items) == 3 and first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_secret(NS, limit=3, _continue=first.metadata._continue)
    assert names(first.items + rest.items) == ["s0", "s1", "s2", "s3"] and rest.metadata._continue is None


# -- validation: schema and API server rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (lambda j: j["spec"]["template"]["spec"].update(restartPolicy="Always"), "spec.template.spec.restartPolicy",
         'Unsupported value: "Always": supported values: "OnFailure", "Never"'),
        (lambda j: j["metadata"].update(name="r" * 64), "metadata.name", "must be no more than 63 characters"),
        (lambda j: j["spec"]["template"]["spec"]["containers"][0]["resources"].update(
            requests={"nvidia.com/gpu": "1"}, limits={"nvidia.com/gpu": "2"}),
         "spec.template.spec.containers[0].resources.requests", "must be equal to nvidia.com/gpu limit of 2"),
        (lambda j: j["spec"]["template"]["spec"]["containers"][0]["resources"].update(limits={"cpu": "2 cores"}),
         "spec.template.spec.containers[0].resources.limits[cpu]", "quantities must match the regular expression"),
        (lambda j: j["spec"]["template"]["spec"]["containers"][0].pop("name"), "spec.template.spec.containers[0].name",
         "Required value"),
        (lambda j: j["metadata"]["labels"].update({"cml-runner-uuid": "{0a1b}"}), "metadata.labels",
         "a valid label must be an empty string"),
        (lambda j: j["spec"]["template"]["spec"].update(
            tolerations=[{"key": "gpu", "operator": "Exists", "value": "yes"}]),
         "spec.template.spec.tolerations[0].operator", "value must be empty when `operator` is 'Exists'"),
    ],
    ids=["restart-policy", "long-name", "gpu-overcommit", "bad-quantity", "no-container-name", "label-value",
         "toleration"],
)  # fmt: skip
def test_invalid_jobs_are_422_with_the_field_and_the_rule(
    kube: FakeKubernetes, kube_api: ApiClient, change: Any, field: str, says: str
) -> None:
    batch, _ = apis(kube_api)
    manifest = job_manifest()
    change(manifest)
    with pytest.raises(ApiException) as refused:
        batch.create_namespaced_job(NS, manifest)
    assert refused.value.status == 422
    status = json.loads(refused.value.body)
    assert (status["kind"], status["reason"], status["details"]["kind"]) == ("Status", "Invalid", "Job")
    assert any(c["field"] == field and says in c["message"] for c in status["details"]["causes"]), status
    assert kube.objects("jobs") == []
    kube.violations.clear()  # this test sends them on purpose


def test_unknown_fields_follow_field_validation(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    batch, _ = apis(kube_api)
    manifest = job_manifest()
    manifest["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1
    with pytest.raises(ApiException) as strict:
        batch.create_namespaced_job(NS, manifest, field_validation="Strict")
    assert strict.value.status == 400
    assert message(strict.value) == 'strict decoding error: unknown field "spec.template.spec.containers[0].gpus"'

    _, status, headers = batch.create_namespaced_job_with_http_info(NS, manifest)  # Warn, the server default
    assert status == 201 and "unknown field" in headers["Warning"]
    stored = kube.object("jobs", NS, "runner-1")
    assert stored is not None and "gpus" not in stored["spec"]["template"]["spec"]["containers"][0]
    assert len(kube.violations) == 2
    kube.violations.clear()


def test_secrets_need_valid_keys_and_base64_values(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    _, core = apis(kube_api)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_secret(NS, {"metadata": {"name": "s"}, "data": {"bad key": "!!"}})
    assert refused.value.status == 422
    assert "a valid config key" in refused.value.body and "illegal base64 data" in refused.value.body
    kube.violations.clear()


def test_a_missing_namespace_and_a_second_create_are_refused(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    batch, _ = apis(kube_api)
    with pytest.raises(ApiException) as missing:
        batch.create_namespaced_job("ml-runners", job_manifest())
    assert missing.value.status == 404 and message(missing.value) == 'namespaces "ml-runners" not found'
    kube.add_namespace("ml-runners")
    batch.create_namespaced_job("ml-runners", job_manifest())
    with pytest.raises(ApiException) as twice:
        batch.create_namespaced_job("ml-runners", job_manifest())
    assert twice.value.status == 409 and message(twice.value) == 'jobs.batch "runner-1" already exists'


# -- faults and the request log --------------------------------------------------------------------------------


def test_faults_answer_429_and_500_then_the_server_recovers(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    batch, _ = apis(kube_api)
    kube.fail("GET", r"/jobs$", status=429, retry_after="1")
    assert batch.list_namespaced_job(NS).items == []  # urllib3 in the client honours Retry-After on 429 itself
    kube.fail("POST", r"/jobs$", status=500)
    with pytest.raises(ApiException) as broken:
        batch.create_namespaced_job(NS, job_manifest())
    assert broken.value.status == 500 and json.loads(broken.value.body)["reason"] == "InternalError"
    assert kube.objects("jobs") == []
    batch.create_namespaced_job(NS, job_manifest())
    assert [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in kube.requests] == [
        ("GET", "jobs", 429),
        ("GET", "jobs", 200),
        ("POST", "jobs", 500),
        ("POST", "jobs", 201),
    ]


def test_a_slow_answer_times_the_client_out_and_a_dropped_one_fails_it(kube: FakeKubernetes) -> None:
    settings = client.Configuration()
    config.load_kube_config_from_dict(kube.kubeconfig(), client_configuration=settings)
    settings.retries = False  # urllib3 would otherwise retry a GET after a read timeout or a dropped connection
    batch = client.BatchV1Api(ApiClient(settings))
    kube.fail("GET", r"/jobs$", delay_s=1.0)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        # The client ignores a float _request_timeout (only an int or a (connect, read) tuple count).
        batch.list_namespaced_job(NS, _request_timeout=(1, 0.2))
    kube.fail("GET", r"/jobs$", drop=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        batch.list_namespaced_job(NS)
    assert batch.list_namespaced_job(NS).items == []


def test_the_log_masks_secret_data(kube: FakeKubernetes, kube_api: ApiClient) -> None:
    batch, core = apis(kube_api)
    job = batch.create_namespaced_job(NS, job_manifest())
    core.create_namespaced_secret(NS, secret_manifest(job))
    logged = kube.requests[-1]
    assert logged.body["data"] == {"oauth_client_secret": "***"}
    stored = kube.object("secrets", NS, "runner-1-oauth")
    assert stored is not None and base64.b64decode(stored["data"]["oauth_client_secret"]) == b"s3cret"

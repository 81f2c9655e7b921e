"""The runner's workload as Kubernetes manifests: plain dicts, no I/O and no SDK, so DRY_RUN prints exactly them.

One batch/v1 Job per runner, its pod shaped like the one Atlassian's runners-autoscaler starts (its job
template, e.g. in lablabs/bitbucket-runner-autoscaler-helm-chart's README): the Linux Docker runner beside a
privileged Docker-in-Docker container, sharing /tmp, /var/run (the Docker socket) and
/var/lib/docker/containers through emptyDir volumes, the OAuth client id and secret read from a Secret. Ours
differ where the pipe needs it:
- the runner and Docker-in-Docker are native sidecars (initContainers with restartPolicy Always, Kubernetes
  1.29+), and the idle agent (pipe/bootstrap/agent.py with agent_pod.py) is the pod's one regular container:
  when the agent ends (idle, SINGLE done, or MAX_LIFETIME), the pod completes, the kubelet stops the sidecars
  and the Job is finished; ttlSecondsAfterFinished then deletes it, with its pod and Secret;
- activeDeadlineSeconds = MAX_LIFETIME ends the Job whatever the agent does; backoffLimit 0: a runner that
  fails is not restarted behind the pipe's back;
- the Secret is owned by the Job (ownerReference, without blockOwnerDeletion), so every deletion of the Job
  takes it along;
- a plain init container (docker_config.py) writes dockerd's configuration first: the MTU of the pod's
  interface, and on GPU pods the GPU runtime shim;
- dockerd listens on the shared socket only (the image's entrypoint would also open TCP 2375 to the pod
  network), and the pod mounts no service account token: nothing in it can call the Kubernetes API.
"""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

from pipe.bootstrap.pod_programs import shipped_docker_config, shipped_gpu_runtime
from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE, BootConfig, runner_env, shipped_pod_agent
from pipe.config.kubernetes import KubernetesOptions
from pipe.providers.base import TAG_CREATED_AT, TAG_EXPIRES_AT, InstanceSpec
from pipe.providers.catalog import KUBERNETES_GPU_RESOURCE, kubernetes_resources

AGENT_IMAGE = "python:3.12-alpine"
DOCKER_SOCKET = "/var/run/docker.sock"
FINISHED_JOB_TTL_S = 300  # a finished Job stays this long for `kubectl logs`, then goes with its pod and Secret
ANNOTATION_PREFIX = "cml-runner-pipe/"
SECRET_KEYS = ("oauth_client_id", "oauth_client_secret")  # the runners-autoscaler's keys
# The Docker-in-Docker daemon's configuration, written by the pod's first init container (docker_config.py):
# the pod interface's MTU and, on GPU pods, the NVIDIA runtime shim (gpu_runtime.py) as the default runtime, so
# step containers see the GPUs the device plugin gave the docker container, and only those
# (docs/clouds/kubernetes.md, "GPU"). The shim hands every call on to the NVIDIA Container Toolkit's
# nvidia-container-runtime.
DOCKER_CONFIG_DIR = "/etc/cml-docker"
DOCKER_CONFIG_FILE = f"{DOCKER_CONFIG_DIR}/daemon.json"
CONFIG_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
# The runner mostly waits on Bitbucket while a step runs in Docker-in-Docker: a small CPU request, room to burst
# (pipe/providers/catalog.py, KUBERNETES_SIZES, counts these requests).
RUNNER_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
AGENT_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}
_VOLUMES = ("tmp", "docker-containers", "var-run", "docker-config")


def secret_name(job_name: str) -> str:
    return f"{job_name}-oauth"


def _iso(epoch: str) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch.isdigit() else ""


def job_annotations(spec: InstanceSpec, boot: BootConfig) -> dict[str, str]:
    """The exact values (braced uuids, times as RFC 3339) beside the label-safe ones in the labels."""
    out = {
        ANNOTATION_PREFIX + "runner-uuid": boot.runner_uuid,
        ANNOTATION_PREFIX + "runner-name": boot.runner_name,
        ANNOTATION_PREFIX + "repository-uuid": boot.repository_uuid,
        ANNOTATION_PREFIX + "workspace-uuid": boot.account_uuid,
        ANNOTATION_PREFIX + "created-at": _iso(spec.tags.get(TAG_CREATED_AT, "")),
        ANNOTATION_PREFIX + "expires-at": _iso(spec.tags.get(TAG_EXPIRES_AT, "")),
    }
    return {k: v for k, v in out.items() if v}


def agent_config(boot: BootConfig, created_at: int) -> dict[str, Any]:
    """The idle agent's settings in the pod (no secret): it watches Docker-in-Docker through the socket."""
    return {
        "cloud": "kubernetes",
        "runner_uuid": boot.runner_uuid,
        "idle_timeout_s": boot.idle_timeout_s,
        "max_lifetime_s": boot.max_lifetime_s,
        "single": boot.single,
        "started_at": created_at,
        "docker_socket": DOCKER_SOCKET,
    }


def _mounts(*, read_only_containers: bool = False) -> list[dict[str, Any]]:
    return [
        {"name": "tmp", "mountPath": "/tmp"},  # the runner's WORKING_DIRECTORY, shared with dockerd
        {"name": "docker-containers", "mountPath": "/var/lib/docker/containers", "readOnly": read_only_containers},
        {"name": "var-run", "mountPath": "/var/run"},
    ]


def _docker(settings: KubernetesOptions, cpu: str, memory: str, gpus: int) -> dict[str, Any]:
    quantities: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        quantities[KUBERNETES_GPU_RESOURCE] = str(gpus)
    args = ["dockerd", f"--host=unix://{DOCKER_SOCKET}", f"--config-file={DOCKER_CONFIG_FILE}"]
    return {
        "name": "docker",
        "image": settings.dind_image,
        "restartPolicy": "Always",
        "args": args,
        "env": [{"name": "DOCKER_TLS_CERTDIR", "value": ""}],
        "securityContext": {"privileged": True},
        "resources": {"requests": dict(quantities), "limits": dict(quantities)},
        # The runner starts once the daemon answers (native sidecars start in order, each after its probe).
        "startupProbe": {"exec": {"command": ["docker", "info"]}, "periodSeconds": 2, "failureThreshold": 90},
        "volumeMounts": [*_mounts(), {"name": "docker-config", "mountPath": DOCKER_CONFIG_DIR, "readOnly": True}],
    }


def _docker_config(gpus: int) -> dict[str, Any]:
    """A plain init container: runs alone, before the sidecars, in the pod's network namespace."""
    env = [{"name": "CML_GPU_RUNTIME", "value": shipped_gpu_runtime()}] if gpus else []
    return {
        "name": "docker-config",
        "image": AGENT_IMAGE,
        "command": ["python3", "-c", shipped_docker_config(), DOCKER_CONFIG_DIR, *(["--gpu"] if gpus else [])],
        "env": env,
        "resources": CONFIG_RESOURCES,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
        "volumeMounts": [{"name": "docker-config", "mountPath": DOCKER_CONFIG_DIR}],
    }


def _runner(boot: BootConfig, secret: str) -> dict[str, Any]:
    env: list[dict[str, Any]] = []
    for name, value in runner_env(boot).items():
        if name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"):
            ref = {"name": secret, "key": name.lower()}
            env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
        else:
            env.append({"name": name, "value": value})
    return {
        "name": "runner",
        "image": boot.runner_image or DEFAULT_RUNNER_IMAGE,
        "restartPolicy": "Always",
        "env": env,
        "resources": RUNNER_RESOURCES,
        "volumeMounts": _mounts(read_only_containers=True),
    }


def _agent(boot: BootConfig, created_at: int) -> dict[str, Any]:
    return {
        "name": "agent",
        "image": AGENT_IMAGE,
        "command": ["python3", "-c", shipped_pod_agent()],
        "env": [{"name": "CML_AGENT_CONFIG", "value": json.dumps(agent_config(boot, created_at), sort_keys=True)}],
        "resources": AGENT_RESOURCES,
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
        "volumeMounts": [{"name": "var-run", "mountPath": "/var/run"}],
    }


def job_manifest(spec: InstanceSpec, settings: KubernetesOptions) -> dict[str, Any]:
    """The runner's Job (spec.boot must be set: the runner's identity and lifetimes)."""
    boot = spec.boot
    if boot is None:
        raise ValueError("a Kubernetes launch needs InstanceSpec.boot")
    cpu, memory = kubernetes_resources(spec.instance_type)
    created = spec.tags.get(TAG_CREATED_AT, "")
    created_at = int(created) if created.isdigit() else 0
    labels = dict(spec.tags)
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 60,
        "initContainers": [
            _docker_config(spec.accelerator_count),
            _docker(settings, cpu, memory, spec.accelerator_count),
            _runner(boot, secret_name(spec.name)),
        ],
        "containers": [_agent(boot, created_at)],
        "volumes": [{"name": name, "emptyDir": {}} for name in _VOLUMES],
    }
    if settings.node_selector:
        pod_spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        pod_spec["tolerations"] = [t.manifest() for t in settings.tolerations]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": spec.name,
            "namespace": settings.namespace,
            "labels": labels,
            "annotations": job_annotations(spec, boot),
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": spec.max_lifetime_s or boot.max_lifetime_s,
            "ttlSecondsAfterFinished": FINISHED_JOB_TTL_S,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def secret_manifest(job: dict[str, Any], boot: BootConfig, job_uid: str) -> dict[str, Any]:
    """The OAuth client credentials, owned by the Job so that deleting the Job deletes them."""
    meta = job["metadata"]
    values = (boot.oauth_client_id, boot.oauth_client_secret)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "immutable": True,
        "metadata": {
            "name": secret_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": dict(meta["labels"]),
            # No blockOwnerDeletion: garbage collection deletes the Secret after the Job without it, and where
            # OwnerReferencesPermissionEnforcement is on (OpenShift) setting it needs `update` on jobs/finalizers
            # (kubernetes/kubernetes plugin/pkg/admission/gc/gc_admission.go). An ownerReference at all needs
            # `delete` on secrets there: the README's Role grants it.
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": job_uid}],
        },
        "data": {
            key: base64.b64encode(value.encode()).decode() for key, value in zip(SECRET_KEYS, values, strict=True)
        },
    }


def for_display(job: dict[str, Any]) -> dict[str, Any]:
    """The Job as DRY_RUN prints it: the agent's embedded program (about 7 KB) named, not shown."""
    shown = copy.deepcopy(job)
    pod = shown["spec"]["template"]["spec"]
    sources = {"agent": "agent.py and agent_pod.py", "docker-config": "docker_config.py"}
    for container in [*pod["initContainers"], *pod["containers"]]:
        if container["name"] in sources:
            code = container["command"][2]
            shown_as = f"<pipe/bootstrap/{sources[container['name']]} without comments, {len(code)} characters>"
            container["command"][2] = shown_as
        for env in container.get("env") or []:
            if env["name"] == "CML_GPU_RUNTIME":
                env["value"] = f"<pipe/bootstrap/gpu_runtime.py without comments, {len(env['value'])} characters>"
    return shown


def masked_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """The Secret as DRY_RUN prints it: its keys, never its values."""
    return {**secret, "data": dict.fromkeys(secret.get("data") or {}, "***")}

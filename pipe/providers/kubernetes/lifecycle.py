"""The Provider protocol on a Kubernetes cluster: one runner = one Job of ours (and the Secret it owns).

Every call stays in the configured namespace and finds our objects by our labels only (cml-managed-by, and
cml-repository for one repository's): nothing without them is ever read back as ours or deleted. A Job is
deleted with propagationPolicy Foreground and a uid precondition: its pod and Secret go with it, and an
object that was replaced in between is never taken by mistake. (batch/v1 Jobs deleted without a policy
orphan their pods; see test/support/fakes/kubernetes/state.py.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import urllib3
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from pipe.config.kubernetes import KubernetesOptions
from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    Instance,
    InstanceSpec,
    ProviderError,
    Trouble,
)
from pipe.providers.kubernetes.errors import api_error, transport_error
from pipe.providers.kubernetes.manifests import job_manifest, secret_manifest
from pipe.providers.kubernetes.trouble import job_trouble, pod_trouble

log = logging.getLogger(__name__)

CLOUD = "kubernetes"
TIMEOUT = (10, 60)  # (connect, read) seconds; the client ignores a plain float
PAGE = 200
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
T = TypeVar("T")


class KubernetesProvider:
    cloud = CLOUD

    def __init__(self, settings: KubernetesOptions, api: ApiClient, server: str) -> None:
        self.settings = settings
        self.region = settings.namespace
        self.server = server
        self._api = api
        self._batch = client.BatchV1Api(api)
        self._core = client.CoreV1Api(api)

    # -- Provider ---------------------------------------------------------------------------------

    def zones(self, instance_type: str) -> list[str]:
        """One pseudo-zone, the namespace: the scheduler picks the node."""
        return [self.settings.namespace]

    def resolve_image(self, requested: str, gpu: bool) -> str:
        """The image the pipe chooses on a cluster: the Docker-in-Docker sidecar's (CLOUD_IMAGE is refused)."""
        return self.settings.dind_image

    def image_disk_gb(self, image: str) -> int | None:
        """A pod has no root disk of its own to size (CLOUD_HDD_SIZE is refused on Kubernetes)."""
        return None

    def launch(self, spec: InstanceSpec, zone: str, spot: bool) -> Instance:
        if spec.boot is None:
            raise ProviderError("a Kubernetes launch needs the runner's boot settings")
        namespace = self.settings.namespace
        job = job_manifest(spec, self.settings)
        log.info("Creating Job %s in namespace %s", spec.name, namespace)
        created = self._dict(
            self._call(
                f"create Job {spec.name} in namespace {namespace}",
                lambda: self._batch.create_namespaced_job(
                    namespace, job, field_validation="Strict", _request_timeout=TIMEOUT
                ),
            )
        )
        try:
            secret = secret_manifest(job, spec.boot, created["metadata"]["uid"])
            self._call(
                f"create Secret {secret['metadata']['name']} in namespace {namespace}",
                lambda: self._core.create_namespaced_secret(
                    namespace, secret, field_validation="Strict", _request_timeout=TIMEOUT
                ),
            )
        except BaseException:
            log.info("Launch failed; deleting Job %s", spec.name)
            try:
                self._delete_job(spec.name, created["metadata"]["uid"])
            except ProviderError as cleanup:
                log.warning("Could not delete Job %s: %s", spec.name, cleanup)
            raise
        return self._instance(created)

    def list_ours(self, repository_tag: str | None = None, *, with_state: bool = True) -> list[Instance]:
        """Our Jobs (one repository's with ``repository_tag``), PAGE a call; each Job carries its status, so
        ``with_state`` costs nothing more and changes nothing."""
        selector = f"{TAG_MANAGED_BY}={TAG_MANAGED_BY_VALUE}"
        if repository_tag is not None:
            selector += f",{TAG_REPOSITORY}={repository_tag}"
        found: list[Instance] = []
        token = ""
        while True:
            page = self._dict(
                self._call(f"list Jobs in namespace {self.settings.namespace}", self._lister(selector, token))
            )
            for job in page.get("items") or []:
                labels = job["metadata"].get("labels") or {}
                if labels.get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE or job["metadata"].get("deletionTimestamp"):
                    continue  # not ours (whatever the server matched), or already going away
                found.append(self._instance(job))
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return found

    def terminate(self, instance: Instance) -> None:
        try:
            job = self._dict(
                self._batch.read_namespaced_job(instance.id, self.settings.namespace, _request_timeout=TIMEOUT)
            )
        except ApiException as error:
            if error.status == 404:
                return
            raise api_error(error, f"read Job {instance.id}", self.settings.namespace) from None
        except urllib3.exceptions.HTTPError as error:
            raise transport_error(error, f"read Job {instance.id}", self.server) from None
        if (job["metadata"].get("labels") or {}).get(TAG_MANAGED_BY) != TAG_MANAGED_BY_VALUE:
            raise ProviderError(
                f"Job {instance.id} lacks the label {TAG_MANAGED_BY}={TAG_MANAGED_BY_VALUE}; not deleting it"
            )
        log.info("Deleting Job %s (its pod and Secret with it)", instance.id)
        self._delete_job(instance.id, job["metadata"]["uid"])

    def terminate_many(self, instances: Sequence[Instance], *, wait: bool = True) -> None:
        """terminate() for each: a read (still ours, and its uid) and a delete with that uid as precondition.
        Kubernetes deletes in the background whatever ``wait`` says (the garbage collector removes the pod
        and Secret); a delete collection by label would spare the read but lose the uid precondition and
        need the deletecollection verb in the README's Role."""
        for instance in instances:
            self.terminate(instance)

    def _lister(self, selector: str, token: str) -> Callable[[], Any]:
        return lambda: self._batch.list_namespaced_job(
            self.settings.namespace,
            label_selector=selector,
            limit=PAGE,
            _continue=token or None,
            _request_timeout=TIMEOUT,
        )

    # -- ReportsTrouble ---------------------------------------------------------------------------

    def trouble(self, instance: Instance) -> Trouble | None:
        namespace = self.settings.namespace
        try:
            job = self._dict(self._batch.read_namespaced_job(instance.id, namespace, _request_timeout=TIMEOUT))
            failed = job_trouble(job)
            if failed is not None:
                return failed
            pods = (
                self._dict(
                    self._core.list_namespaced_pod(
                        namespace, label_selector=f"{JOB_NAME_LABEL}={instance.id}", _request_timeout=TIMEOUT
                    )
                ).get("items")
                or []
            )
            for pod in pods:
                found = pod_trouble(pod, scaling_up=self._scaling_up(pod))
                if found is not None:
                    return found
        except ApiException as error:
            if error.status == 404:
                return Trouble(f"Job {instance.id} was deleted while waiting for its runner", fatal=True)
            log.debug("Could not read the pod's state: %s", error.status)
        except urllib3.exceptions.HTTPError as error:
            log.debug("Could not read the pod's state: %s", error)
        return None

    # -- helpers ----------------------------------------------------------------------------------

    def _scaling_up(self, pod: dict[str, Any]) -> bool:
        """A cluster autoscaler that is adding a node for this pod says so in a TriggeredScaleUp event."""
        scheduled = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"]
        if not scheduled or scheduled[0].get("reason") != "Unschedulable":
            return False
        events = self._core.list_namespaced_event(
            self.settings.namespace,
            field_selector=f"involvedObject.uid={pod['metadata']['uid']},reason=TriggeredScaleUp",
            _request_timeout=TIMEOUT,
        )
        return bool(events.items)

    def _delete_job(self, name: str, uid: str) -> None:
        options = client.V1DeleteOptions(propagation_policy="Foreground", preconditions=client.V1Preconditions(uid=uid))
        try:
            self._batch.delete_namespaced_job(name, self.settings.namespace, body=options, _request_timeout=TIMEOUT)
        except ApiException as error:
            if error.status == 404:
                return
            raise api_error(error, f"delete Job {name}", self.settings.namespace) from None
        except urllib3.exceptions.HTTPError as error:
            raise transport_error(error, f"delete Job {name}", self.server) from None

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ApiException as error:
            raise api_error(error, action, self.settings.namespace) from None
        except urllib3.exceptions.HTTPError as error:
            raise transport_error(error, action, self.server) from None

    def _dict(self, obj: Any) -> dict[str, Any]:
        """An SDK model as the API's own JSON (camelCase), so one code path reads responses and manifests."""
        data = self._api.sanitize_for_serialization(obj)
        return data if isinstance(data, dict) else {}

    def _instance(self, job: dict[str, Any]) -> Instance:
        meta, status = job["metadata"], job.get("status") or {}
        finished = any(
            c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        state = "stopped" if finished else "running" if status.get("ready") else "pending"
        sidecars = ((job.get("spec") or {}).get("template") or {}).get("spec", {}).get("initContainers") or []
        docker = [c for c in sidecars if c.get("name") == "docker"]
        limits: dict[str, str] = (docker[0].get("resources") or {}).get("limits") or {} if docker else {}
        size = f"{limits.get('cpu', '?')}cpu-{limits.get('memory', '?')}"
        labels = dict(meta.get("labels") or {})
        return Instance(
            CLOUD, meta["name"], meta["name"], meta["namespace"], meta["namespace"], size, False, state, labels
        )

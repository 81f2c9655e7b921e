"""Machine images of ours on Compute Engine (COMMAND: bake): an image made from the stopped bake instance's boot
disk, in a family of ours, labelled like AWS's tags; listing by label; deleting.

A Compute Engine image keeps its own copy of the disk's data (billed as image storage), unlike an AMI, which
keeps EBS snapshots: deleting the image deletes everything it holds, so there is no snapshot of ours to clean up.
The bake instance's boot disk is created with autoDelete (request.py), so deleting the instance, after the image
is READY or in a rollback, deletes the disk too; a powered-off guest leaves its instance TERMINATED with the disk
(https://cloud.google.com/compute/docs/instances/instance-life-cycle), and the bake's instance is never Spot and
has no maxRunDuration, so nothing deletes it before the image is made.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Mapping

from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from pipe.providers.base import (
    TAG_BAKE_ID,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_RECIPE,
    TAG_REPOSITORY,
    Instance,
    MachineImage,
    ProviderError,
)
from pipe.providers.gcp.api import ComputeApi
from pipe.providers.gcp.errors import op_error
from pipe.providers.gcp.request import sanitise_labels
from pipe.providers.tags import label_value

# Image.status: PENDING while the insert runs, READY, FAILED, DELETING (the discovery document's enum).
STATES = {"READY": "available", "PENDING": "pending", "DELETING": "pending", "FAILED": "failed"}
CREATE_PERMISSION = "compute.images.create and compute.disks.useReadOnly (roles/compute.storageAdmin)"


def family(tags: Mapping[str, str]) -> str:
    """The image family of one repository's bakes of one recipe: 'cml-' + repository UUID (36) + '-' + recipe
    hash (12) = 53 characters, within RFC1035's 63 (Image.family "must comply with RFC1035")."""
    return f"cml-{label_value(tags[TAG_REPOSITORY])}-{tags[TAG_RECIPE]}"


class MakesGcpImages:
    """base.MakesImages for GcpProvider (lifecycle.py), which supplies the clients."""

    api: ComputeApi

    def create_image(self, instance: Instance, name: str, tags: dict[str, str]) -> MachineImage:
        """An image of the stopped instance's boot disk. No forceCreate: GCE refuses a disk in use by a running
        instance ('The disk resource ... is already being used by ...'), and an image of a live disk could hold
        a half-written file system."""
        api = self.api
        action = f"make image {name} from instance {instance.id}"
        try:
            found = api.call(
                lambda: api.instances.get(project=api.project, zone=instance.zone, instance=instance.id, retry=None),
                action,
            )
        except gexc.GoogleAPICallError as exc:
            raise api.explain(exc, action, "compute.instances.get") from None
        boot = [disk.source for disk in found.disks if disk.boot]
        if not boot:
            raise ProviderError(f"GCP: instance {instance.id} has no boot disk to make image {name} from")
        labels = sanitise_labels(tags)
        body = compute_v1.Image(
            name=name,
            family=family(tags),
            description=f"cml-runner baked image {name}",
            labels=labels,
            source_disk=boot[0],
        )
        request = compute_v1.InsertImageRequest(project=api.project, image_resource=body, request_id=str(uuid.uuid4()))
        try:
            api.call(lambda: api.images.insert_unary(request=request, retry=None), action)
        except gexc.GoogleAPICallError as exc:
            raise api.explain(exc, action, CREATE_PERMISSION) from None
        return MachineImage(cloud="gcp", id=self._path(name), name=name, state="pending", tags=labels)

    def image(self, image_id: str) -> MachineImage | None:
        api = self.api
        name = image_id.rstrip("/").rsplit("/", 1)[-1]
        try:
            found = api.call(lambda: api.images.get(project=api.project, image=name, retry=None), "read the image")
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as exc:
            raise api.explain(exc, f"read image {name}", "compute.images.get") from None
        return self._to_image(found)

    def images_ours(self, repository_tag: str) -> list[MachineImage]:
        """This project's images labelled ours for this repository (the filter, then checked again here)."""
        api = self.api
        wanted = {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, TAG_REPOSITORY: label_value(repository_tag)}
        request = compute_v1.ListImagesRequest(
            project=api.project, filter=" ".join(f'(labels.{k} = "{v}")' for k, v in wanted.items())
        )

        def run() -> list[MachineImage]:
            return [
                self._to_image(found)
                for found in api.images.list(request=request, retry=None)
                if all(dict(found.labels).get(k) == v for k, v in wanted.items())
            ]

        try:
            return api.call(run, "list images")
        except gexc.GoogleAPICallError as exc:
            raise api.explain(exc, "list images", "compute.images.list") from None

    def console_output(self, instance: Instance) -> str:
        """Serial port 1, where the startup-script's output goes (google_metadata_script_runner): GCE keeps its most
        recent 1 MB, readable while the instance is TERMINATED (instances.getSerialPortOutput)."""
        api = self.api
        action = f"read the serial console of instance {instance.id}"
        request = compute_v1.GetSerialPortOutputInstanceRequest(
            project=api.project, zone=instance.zone, instance=instance.id, port=1
        )
        try:
            found = api.call(lambda: api.instances.get_serial_port_output(request=request, retry=None), action)
        except gexc.GoogleAPICallError as exc:
            raise api.explain(exc, action, "compute.instances.getSerialPortOutput") from None
        return str(found.contents or "")

    def delete_image(self, image: MachineImage) -> None:
        """Delete and wait; an image still PENDING (its creation running: GCE answers resourceNotReady) is waited
        for first, bounded by the operation timeout; a missing one is not an error."""
        api = self.api
        action = f"delete image {image.name}"
        deadline = time.monotonic() + api.operation_timeout_s
        while True:
            request = compute_v1.DeleteImageRequest(project=api.project, image=image.name,
                                                    request_id=str(uuid.uuid4()))  # fmt: skip
            try:
                op = api.call(functools.partial(api.images.delete_unary, request=request, retry=None), action)
                break
            except gexc.NotFound:
                return
            except gexc.BadRequest as exc:
                reasons = {str(e.get("reason", "")) for e in (exc.errors or []) if isinstance(e, dict)}
                if "resourceNotReady" not in reasons or time.monotonic() >= deadline:
                    raise api.explain(exc, action, "compute.images.delete") from None
                self._wait_made(image, deadline)
            except gexc.GoogleAPICallError as exc:
                raise api.explain(exc, action, "compute.images.delete") from None
        code, message = op_error(api.wait("", op, action))
        if code and code != "RESOURCE_NOT_FOUND":
            raise ProviderError(f"GCP failed to {action} ({code}): {message}")

    def _wait_made(self, image: MachineImage, deadline: float) -> None:
        """Until the image is no longer PENDING (or gone), reading it every poll interval."""
        while time.monotonic() < deadline:
            now = self.image(image.id)
            if now is None or now.state != "pending":
                return
            time.sleep(self.api.poll_interval_s)

    def delete_bake_leftovers(self, repository_tag: str, bake_id: str) -> None:
        """The bake's images, by its id label. Nothing else: a GCE image keeps no snapshot, and the bake's disk
        goes with its instance (autoDelete)."""
        for image in self.images_ours(repository_tag):
            if image.tags.get(TAG_BAKE_ID) == label_value(bake_id):
                self.delete_image(image)

    def _path(self, name: str) -> str:
        """The image's id for the pipe: a path CLOUD_IMAGE and instance inserts take as is."""
        return f"projects/{self.api.project}/global/images/{name}"

    def _to_image(self, found: compute_v1.Image) -> MachineImage:
        return MachineImage(
            cloud="gcp",
            id=self._path(found.name),
            name=found.name,
            state=STATES.get(found.status, "failed"),
            tags=dict(found.labels),
        )

"""CLOUD_IMAGE on GCP: 'project/family' is resolved to the family's current image (pinned for all zone attempts),
a link or 'projects/...' path is used as is; and the smallest boot disk an image allows."""

from __future__ import annotations

import re

from google.api_core import exceptions as gexc

from pipe.providers.base import ProviderError
from pipe.providers.catalog import DEFAULT_IMAGES
from pipe.providers.gcp.api import ComputeApi

DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE = DEFAULT_IMAGES["gcp"]
_FAMILY = re.compile(r"^([a-z][-a-z0-9.:]*[a-z0-9])/([a-z][-a-z0-9]*)$")
_IMAGE_PATH = re.compile(r"(?:^|/)projects/[^/]+/global/images/(?:family/)?[^/]+$")
_IMAGE_LINK = re.compile(r"(?:^|/)projects/([^/]+)/global/images/(family/)?([^/]+)$")


class Images:
    def __init__(self, api: ComputeApi) -> None:
        self._api = api
        self._disk_gb: dict[str, int] = {}  # image link -> diskSizeGb, learnt by resolve()

    def resolve(self, requested: str, gpu: bool) -> str:
        api = self._api
        requested = requested.strip() or (DEFAULT_GPU_IMAGE if gpu else DEFAULT_CPU_IMAGE)
        if requested.startswith("https://") or _IMAGE_PATH.search(requested):
            return requested  # a link or path: used as is
        match = _FAMILY.match(requested)
        if not match:
            raise ProviderError(
                f"CLOUD_IMAGE {requested!r}: use 'project/family' (e.g. {DEFAULT_CPU_IMAGE}), "
                "'project/image-name', or an image link (projects/P/global/images/NAME)"
            )
        project, family = match.groups()
        try:
            image = api.call(
                lambda: api.images.get_from_family(project=project, family=family, retry=None), "look up the image"
            )
        except gexc.NotFound:
            try:  # 'project/image-name' also works
                image = api.call(lambda: api.images.get(project=project, image=family, retry=None),
                                 "look up the image")  # fmt: skip
            except gexc.NotFound:
                raise ProviderError(
                    f"CLOUD_IMAGE {requested!r}: project {project} has no image family or image named {family}"
                ) from None
            except gexc.GoogleAPICallError as exc:
                raise api.explain(exc, "look up the image", "compute.images.get") from None
        except gexc.GoogleAPICallError as exc:
            raise api.explain(exc, "look up the image", "compute.images.getFromFamily (roles/compute.imageUser "
                              "on private images)") from None  # fmt: skip
        if image.disk_size_gb:
            self._disk_gb[str(image.self_link)] = int(image.disk_size_gb)
        return str(image.self_link)

    def disk_gb(self, image: str) -> int | None:
        """The image's diskSizeGb: a smaller boot disk is refused ("Requested disk size cannot be smaller than
        the image size (50 GB)", HTTP 400)."""
        api = self._api
        if image in self._disk_gb:
            return self._disk_gb[image]
        match = _IMAGE_LINK.search(image)
        if not match:
            return None
        project, family, name = match.groups()
        try:
            found = api.call(
                (lambda: api.images.get_from_family(project=project, family=name, retry=None))
                if family
                else (lambda: api.images.get(project=project, image=name, retry=None)),
                "look up the image",
            )
        except gexc.NotFound:
            raise ProviderError(f"CLOUD_IMAGE: image not found ({image})") from None
        except gexc.GoogleAPICallError as exc:
            raise api.explain(exc, "look up the image", "compute.images.get") from None
        size = int(found.disk_size_gb) if found.disk_size_gb else None
        if size:
            self._disk_gb[image] = size
        return size

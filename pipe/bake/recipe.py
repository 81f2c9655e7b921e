"""What a baked image holds, as a hash: the image's name and tags carry it, runner mode looks it up by it.

Plain data, no I/O. A change to any part (a newer base image, another runner image tag, a new bake script,
GPU or not) gives another hash, so runner mode stops using the old images and the sweep removes them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pipe.providers.base import (
    ROLE_BAKE,
    ROLE_BAKED_IMAGE,
    TAG_BAKE_ID,
    TAG_CREATED_AT,
    TAG_EXPIRES_AT,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_PIPELINE,
    TAG_RECIPE,
    TAG_REPOSITORY,
    TAG_ROLE,
)
from pipe.providers.tags import label_value, repository_tag

# The bake role of pipe/bootstrap/startup.sh: bump it when what the bake installs or clears changes, so images
# baked by the old script are no longer used (and the sweep removes them). 2: GPU images hold nvidia-utils
# (nvidia-smi), which images of v1 baked from a driver-less base lack.
BAKE_SCRIPT_VERSION = "2"
HASH_CHARS = 12
IMAGE_PREFIX = "cml-baked-"
# One name for all three clouds, under the strictest rule:
# - GCP image names: "[a-z]([-a-z0-9]*[a-z0-9])?", at most 63 characters
#   (https://cloud.google.com/compute/docs/reference/rest/v1/images, "name");
# - EC2 CreateImage: "3-128 alphanumeric characters, parentheses (()), square brackets ([]), spaces ( ), periods
#   (.), slashes (/), dashes (-), single quotes ('), at-signs (@), or underscores(_)"
#   (https://docs.aws.amazon.com/sdkfornet/v3/apidocs/items/EC2/MCreateImageRequestctorStringString.html);
# - Azure images: 1-80 characters, alphanumerics, underscores, periods and hyphens, starting with an alphanumeric
#   and ending with an alphanumeric or underscore (Microsoft.Compute/images in
#   https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules).
IMAGE_NAME = re.compile(r"cml-baked-[0-9a-f]{12}-[0-9]{10}")


@dataclass(frozen=True)
class Recipe:
    base_image: str  # the native image id the bake booted (resolved: an AMI id, not a name pattern)
    runner_image: str  # the runner image reference with its tag
    gpu: bool
    script_version: str = BAKE_SCRIPT_VERSION

    @property
    def hash(self) -> str:
        text = "\n".join(
            (f"base={self.base_image}", f"runner={self.runner_image}", f"script={self.script_version}",
             f"gpu={'yes' if self.gpu else 'no'}")
        )  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]

    def describe(self) -> str:
        return (
            f"recipe {self.hash}: base {self.base_image}, runner image {self.runner_image}, bake script "
            f"v{self.script_version}, {'GPU' if self.gpu else 'CPU'}"
        )


def image_name(recipe: Recipe, created_at: int) -> str:
    name = f"{IMAGE_PREFIX}{recipe.hash}-{created_at:010d}"
    if not IMAGE_NAME.fullmatch(name):
        raise ValueError(f"not a baked image name: {name!r}")
    return name


def bake_instance_tags(*, repository_uuid: str, bake_id: str, pipeline: str, created_at: int, expires_at: int) -> dict[
    str, str
]:
    """The bake's instance (and disk): ours, one repository's, one bake's; the sweep removes it only once it is past
    its expires-at (it has no runner: pipe/runner/leftovers.py)."""
    return {
        TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
        TAG_REPOSITORY: repository_tag(repository_uuid),
        TAG_ROLE: ROLE_BAKE,
        TAG_BAKE_ID: bake_id,
        TAG_PIPELINE: label_value(pipeline) or "local",
        TAG_CREATED_AT: str(created_at),
        TAG_EXPIRES_AT: str(expires_at),
    }


def image_tags(*, repository_uuid: str, bake_id: str, recipe: Recipe, pipeline: str, created_at: int) -> dict[str, str]:
    """The image and what it keeps (snapshots): ours, one repository's, one bake's, one recipe's."""
    return {
        TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
        TAG_REPOSITORY: repository_tag(repository_uuid),
        TAG_ROLE: ROLE_BAKED_IMAGE,
        TAG_BAKE_ID: bake_id,
        TAG_RECIPE: recipe.hash,
        TAG_PIPELINE: label_value(pipeline) or "local",
        TAG_CREATED_AT: str(created_at),
    }

"""The sweep's part for baked images: per recipe, the newest two of ours stay; the older ones (and failed ones)
are deleted with what they keep (AWS: their snapshots tagged ours). Only images tagged ours for this repository,
as baked images with a recipe, are ever considered: anything else is not provably ours and is never touched."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pipe.providers.base import ROLE_BAKED_IMAGE, TAG_RECIPE, TAG_ROLE, MachineImage, MakesImages, ProviderError
from pipe.providers.tags import created_at, is_ours

KEEP_PER_RECIPE = 2


@dataclass
class ImageSweep:
    deleted: list[MachineImage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def stale_images(images: Iterable[MachineImage]) -> list[tuple[MachineImage, str]]:
    """Plain data in, the images to delete with why out. A pending image is a bake in progress: never stale."""
    by_recipe: dict[str, list[MachineImage]] = defaultdict(list)
    stale: list[tuple[MachineImage, str]] = []
    for image in images:
        recipe = image.tags.get(TAG_RECIPE, "")
        if not is_ours(image.tags) or image.tags.get(TAG_ROLE) != ROLE_BAKED_IMAGE or not recipe:
            continue
        if image.state == "failed":
            stale.append((image, "the cloud failed to make it"))
        elif image.state == "available":
            by_recipe[recipe].append(image)
    for recipe, group in by_recipe.items():
        group.sort(key=lambda image: (created_at(image.tags) or 0, image.name), reverse=True)
        stale.extend(
            (image, f"older than the newest {KEEP_PER_RECIPE} of recipe {recipe}") for image in group[KEEP_PER_RECIPE:]
        )
    return stale


def sweep_images(provider: MakesImages, repository_tag: str, *, dry_run: bool, log: logging.Logger) -> ImageSweep:
    outcome = ImageSweep()
    for image, why in stale_images(provider.images_ours(repository_tag)):
        if dry_run:
            log.info("DRY_RUN: would delete baked image %s (%s): %s", image.id, image.name, why)
            continue
        log.info("Deleting baked image %s (%s) and its snapshots: %s", image.id, image.name, why)
        try:
            provider.delete_image(image)
        except ProviderError as error:
            outcome.problems.append(f"baked image {image.id}: {str(error).splitlines()[0]}")
            continue
        outcome.deleted.append(image)
    return outcome

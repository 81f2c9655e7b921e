"""Runner mode's image when CLOUD_IMAGE is unset: the newest available baked image of ours for this repository
whose recipe hash is the current one (the default base image as resolved now, the runner image, the bake script's
version, GPU or not), else the stock image. CLOUD_IMAGE: stock skips the lookup."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pipe.bake.recipe import Recipe
from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE
from pipe.providers.base import ROLE_BAKED_IMAGE, TAG_RECIPE, TAG_ROLE, MakesImages, PermissionDenied, Provider
from pipe.providers.tags import created_at


@dataclass(frozen=True)
class Chosen:
    image: str  # the native image to boot
    baked: bool  # a baked image of ours: the boot installs and pulls nothing


def choose_image(
    provider: Provider, image_request: str, *, gpu: bool, stock: bool, repository_tag: str, log: logging.Logger
) -> Chosen:
    base = provider.resolve_image(image_request, gpu)
    if image_request or stock or not isinstance(provider, MakesImages):
        return Chosen(base, baked=False)
    recipe = Recipe(base_image=base, runner_image=DEFAULT_RUNNER_IMAGE, gpu=gpu)
    try:
        ours = provider.images_ours(repository_tag)
    except PermissionDenied as denied:
        # Credentials that may launch but not list images (e.g. without ec2:DescribeImages on images of their
        # own, or compute.images.list): the stock image still boots; a baked one is an optimisation.
        log.warning("Plan: image: %s, stock (could not look for a baked image: %s)", base, denied)
        return Chosen(base, baked=False)
    candidates = [
        image
        for image in ours
        if image.state == "available"
        and image.tags.get(TAG_ROLE) == ROLE_BAKED_IMAGE
        and image.tags.get(TAG_RECIPE) == recipe.hash
    ]
    if not candidates:
        log.info(
            "Plan: image: %s, stock (no baked image of ours for recipe %s in %s: COMMAND: bake makes one, and then "
            "launches skip the installs and the pull)", base, recipe.hash, provider.region,
        )  # fmt: skip
        return Chosen(base, baked=False)
    newest = max(candidates, key=lambda image: (created_at(image.tags) or 0, image.name))
    log.info(
        "Plan: image: %s (%s), baked from %s for recipe %s: the boot skips the installs and the pull",
        newest.id, newest.name, base, recipe.hash,
    )  # fmt: skip
    return Chosen(newest.id, baked=True)

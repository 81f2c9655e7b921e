"""The bake's decisions on plain data: the recipe hash and image name, which baked images the sweep deletes, and
that the sweep at every launch leaves a live bake's instance alone (it has no runner to look up)."""

from __future__ import annotations

import re

import pytest

from pipe.bake.recipe import IMAGE_NAME, Recipe, bake_instance_tags, image_name, image_tags
from pipe.bake.stale import stale_images
from pipe.providers.base import Instance, MachineImage
from pipe.runner.leftovers import triage

REPO = "{11111111-2222-3333-4444-555555555555}"
BASE = Recipe(base_image="ami-0ubuntu2404noble0001", runner_image="example/runner:1", gpu=False)


@pytest.mark.parametrize(
    "changed",
    [
        Recipe("ami-0ubuntu2404noble0002", "example/runner:1", False),
        Recipe("ami-0ubuntu2404noble0001", "example/runner:2", False),
        Recipe("ami-0ubuntu2404noble0001", "example/runner:1", True),
        Recipe("ami-0ubuntu2404noble0001", "example/runner:1", False, script_version="next"),
    ],
    ids=["base", "runner-tag", "gpu", "script"],
)
def test_every_part_of_the_recipe_changes_its_hash(changed: Recipe) -> None:
    assert changed.hash != BASE.hash and re.fullmatch(r"[0-9a-f]{12}", changed.hash)
    assert Recipe(BASE.base_image, BASE.runner_image, BASE.gpu).hash == BASE.hash  # and nothing else does


def test_image_name_is_valid_on_all_three_clouds() -> None:
    name = image_name(BASE, 1_790_000_000)
    assert IMAGE_NAME.fullmatch(name)
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63  # GCP images
    assert re.fullmatch(r"[A-Za-z0-9()\[\] ./\-'@_]{3,128}", name)  # EC2 CreateImage
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]", name)  # Azure images


def baked(image_id: str, recipe: str, created: int, state: str = "available", repo: str = REPO) -> MachineImage:
    tags = image_tags(repository_uuid=repo, bake_id="b", recipe=BASE, pipeline="1", created_at=created)
    return MachineImage("aws", image_id, f"n-{image_id}", state, {**tags, "cml-recipe": recipe})


def test_the_sweep_keeps_the_newest_two_per_recipe_and_deletes_failed_ones_but_never_a_pending_one() -> None:
    images = [
        baked("a1", "aaa", 100), baked("a4", "aaa", 400), baked("a2", "aaa", 200), baked("a3", "aaa", 300),
        baked("b1", "bbb", 50), baked("f1", "aaa", 500, state="failed"), baked("p1", "aaa", 50, state="pending"),
    ]  # fmt: skip
    assert sorted(image.id for image, _ in stale_images(images)) == ["a1", "a2", "f1"]


def test_the_sweep_never_deletes_an_image_not_tagged_as_a_baked_image_of_ours() -> None:
    not_ours = MachineImage("aws", "x", "x", "available", {"cml-recipe": "aaa", "cml-created-at": "1"})
    no_role = MachineImage("aws", "y", "y", "available", {**baked("y", "aaa", 1).tags, "cml-role": "other"})
    no_recipe = MachineImage("aws", "z", "z", "available", {**baked("z", "", 1).tags})
    assert stale_images([not_ours, no_role, no_recipe] * 3) == []


def bake_instance(expires_at: int) -> Instance:
    tags = bake_instance_tags(repository_uuid=REPO, bake_id="b", pipeline="1", created_at=0, expires_at=expires_at)
    return Instance("aws", "i-bake", "cml-bake-x", "us-west-1", "us-west-1a", "m5.2xlarge", False, "running", tags)


def test_a_live_bake_s_instance_is_never_swept_and_one_past_its_expiry_is() -> None:
    live = triage([bake_instance(expires_at=2_000)], None, now=1_000)
    assert live.terminate == [] and live.look_up == [] and live.legacy == []
    [(instance, why)] = triage([bake_instance(expires_at=2_000)], None, now=3_000).terminate
    assert instance.id == "i-bake" and "bake" in why


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure", "kubernetes"])
def test_the_clouds_said_to_bake_are_those_whose_provider_makes_images(cloud: str) -> None:
    import importlib

    from pipe.providers.base import MakesImages
    from pipe.providers.catalog import BAKES_IMAGES

    module = importlib.import_module(f"pipe.providers.{cloud}.lifecycle")
    [provider] = [c for n, c in vars(module).items() if n.endswith("Provider") and c.__module__ == module.__name__]
    makes = all(callable(getattr(provider, method, None)) for method in vars(MakesImages) if not method.startswith("_"))
    assert makes == (cloud in BAKES_IMAGES)

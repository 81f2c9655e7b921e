"""Baked images in runner mode and in the sweep, on Azure, through the real process against the local Azure:
runner mode with CLOUD_IMAGE unset boots the newest baked managed image of ours with the current recipe hash (by
its resource id, and its script says the boot skips the installs), and the sweep at launch leaves the image's
group alone; CLOUD_IMAGE: stock forces the marketplace image; other recipes' and other repositories' images are
never used; COMMAND: sweep deletes our baked images older than the newest two per recipe (with their groups),
and nothing that is not provably ours."""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.azure import FakeAzure
from fakes.bitbucket import FakeBitbucket
from fixtures_pipe import output_lines, run_pipe
from test_bake_azure import AZURE_BASE_IMAGE, AzureBakeGuest
from vm_standin import VmStandIn

from pipe.bake.recipe import Recipe
from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE, FAST_PATH

CURRENT = Recipe(base_image=AZURE_BASE_IMAGE, runner_image=DEFAULT_RUNNER_IMAGE, gpu=False).hash
OTHER_REPOSITORY = "99999999-2222-3333-4444-555555555555"
VM_TYPE = "Microsoft.Compute/virtualMachines"
_names = itertools.count(1)


@pytest.fixture()
def env(azure_fake: FakeAzure, bb_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **azure_fake.cloud_env(),
        **bb_env,
        "CLOUD_REGION": "us-west",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture()
def repo_tag(bitbucket: FakeBitbucket) -> str:
    return bitbucket.repo().uuid.strip("{}").lower()


@pytest.fixture()
def vm(azure_fake: FakeAzure, bitbucket: FakeBitbucket) -> Iterator[VmStandIn]:
    standin = runner_vms(azure_fake, bitbucket)
    yield standin
    standin.stop()


def runner_vms(azure: FakeAzure, bitbucket: FakeBitbucket) -> VmStandIn:
    """Boots runners' VMs from their custom data; started after any bake, whose VM is AzureBakeGuest."""
    return VmStandIn(azure.boot_payloads, f"{bitbucket.root_url}/_fake/oauth2/token").start()


def baked_tags(repository: str, recipe: str, created: int) -> dict[str, str]:
    return {"cml-managed-by": "cml-runner-pipe", "cml-repository": repository, "cml-role": "baked-image",
            "cml-recipe": recipe, "cml-created-at": str(created)}  # fmt: skip


def seed(azure: FakeAzure, tags: dict[str, str], group_tags: dict[str, str] | None = None) -> str:
    """A managed image as a bake leaves it: alone in a group of its own named as it, tagged like it."""
    name = f"cml-baked-test-{next(_names)}"
    return azure.seed_image(name, name, tags, group_tags=group_tags)


def runner_vm(azure: FakeAzure) -> dict[str, Any]:
    [group] = [g for g in azure.groups() if azure.group_tags(g).get("cml-runner-uuid")]
    [(_, name)] = [r for r in azure.resources(group) if r[0] == VM_TYPE]
    doc = azure.resource(group, VM_TYPE, name)
    doc["customData"] = base64.b64decode(azure.custom_data(group, name)).decode()
    return doc


def image_reference(azure: FakeAzure) -> dict[str, Any]:
    return dict(runner_vm(azure)["properties"]["storageProfile"]["imageReference"])


def image_ids(azure: FakeAzure) -> set[str]:
    return {f"/subscriptions/{azure.subscription_id}/resourceGroups/{g}/providers/Microsoft.Compute/images/{n}"
            for g, n, _, _ in azure.images()}  # fmt: skip


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_runner_mode_boots_the_newest_baked_image_of_the_current_recipe_and_its_boot_skips_the_installs(
    env: dict[str, str], azure_fake: FakeAzure, bitbucket: FakeBitbucket, repo_tag: str
) -> None:
    older = seed(azure_fake, baked_tags(repo_tag, CURRENT, 100))
    with AzureBakeGuest(azure_fake):
        baked = run_pipe({**env, "COMMAND": "bake"})
    assert baked.returncode == 0, baked.stdout + baked.stderr
    newest = re.findall(r"Baked image (/subscriptions/\S+)", "\n".join(output_lines(baked)))[-1]

    standin = runner_vms(azure_fake, bitbucket)
    try:
        proc = run_pipe(env)
    finally:
        standin.stop()
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert image_reference(azure_fake) == {"id": newest}
    plan = (rf"Plan: image: {re.escape(newest)} \(cml-baked-{CURRENT}-\d+\), baked from "
            rf"{re.escape(AZURE_BASE_IMAGE)} for recipe {CURRENT}: the boot skips the installs")  # fmt: skip
    assert re.search(plan, out), out
    assert FAST_PATH in runner_vm(azure_fake)["customData"]
    # The sweep at launch took the image groups (no VM in them) for nothing of its own: both images are there.
    assert image_ids(azure_fake) == {older, newest}


def test_cloud_image_stock_boots_the_marketplace_image_even_with_a_baked_one(
    env: dict[str, str], azure_fake: FakeAzure, repo_tag: str, vm: VmStandIn
) -> None:
    baked = seed(azure_fake, baked_tags(repo_tag, CURRENT, 100))
    proc = run_pipe({**env, "CLOUD_IMAGE": "stock"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    publisher, offer, sku, version = AZURE_BASE_IMAGE.split(":")
    assert image_reference(azure_fake) == {"publisher": publisher, "offer": offer, "sku": sku, "version": version}
    assert "stock (CLOUD_IMAGE: stock)" in out and FAST_PATH not in runner_vm(azure_fake)["customData"]
    assert image_ids(azure_fake) == {baked}


def test_images_of_another_recipe_or_another_repository_are_never_booted(
    env: dict[str, str], azure_fake: FakeAzure, repo_tag: str, vm: VmStandIn
) -> None:
    seed(azure_fake, baked_tags(repo_tag, "0" * 12, 100))  # a stale recipe of ours
    seed(azure_fake, baked_tags(OTHER_REPOSITORY, CURRENT, 100))  # another repository's
    seed(azure_fake, baked_tags(repo_tag, CURRENT, 200), group_tags={"team": "ml"})  # in a group not ours
    before = image_ids(azure_fake)
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "id" not in image_reference(azure_fake)
    assert f"stock (no baked image of ours for recipe {CURRENT} in westus2" in out
    assert FAST_PATH not in runner_vm(azure_fake)["customData"]
    assert image_ids(azure_fake) == before


def test_a_managed_image_id_as_cloud_image_is_booted_as_is(
    env: dict[str, str], azure_fake: FakeAzure, vm: VmStandIn
) -> None:
    """CLOUD_IMAGE may name a managed image by its id (here one that is not even ours): no lookup, no fast path."""
    image = azure_fake.seed_image("images", "golden", {"team": "ml"})
    proc = run_pipe({**env, "CLOUD_IMAGE": image})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert image_reference(azure_fake) == {"id": image}
    assert FAST_PATH not in runner_vm(azure_fake)["customData"]


def test_sweep_deletes_baked_images_older_than_the_newest_two_per_recipe_with_their_groups_and_nothing_else(
    env: dict[str, str], azure_fake: FakeAzure, repo_tag: str
) -> None:
    current = [seed(azure_fake, baked_tags(repo_tag, CURRENT, t)) for t in (100, 400, 200, 300)]
    old_recipe = seed(azure_fake, baked_tags(repo_tag, "0" * 12, 50))
    failed = azure_fake.seed_image("cml-baked-failed", "cml-baked-failed", baked_tags(repo_tag, CURRENT, 500),
                                   state="Failed")  # fmt: skip
    others = [seed(azure_fake, baked_tags(OTHER_REPOSITORY, CURRENT, t)) for t in (1, 2, 3)]
    not_our_group = seed(azure_fake, baked_tags(repo_tag, CURRENT, 10), group_tags={"team": "ml"})
    untagged = azure_fake.seed_image("images", "golden", {"team": "ml"})
    # A capture cut short between its group and its image: an image group of ours holding nothing.
    azure_fake.seed_group("cml-baked-empty", baked_tags(repo_tag, CURRENT, 600))

    proc = run_pipe({**env, "COMMAND": "sweep"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "4 stale baked image(s) deleted" in out, out
    # The instance sweep took no image group for an instance (one with no runner scope would be "legacy").
    assert "0 instance(s) terminated" in out and "old repository tag" not in out, out
    gone = {current[0], current[2], failed}  # created at 100 and 200: older than the newest two (400, 300)
    left = image_ids(azure_fake)
    assert gone.isdisjoint(left)
    assert left == {current[1], current[3], old_recipe, *others, not_our_group, untagged}
    groups = set(azure_fake.groups())
    assert {g.split("/")[4] for g in gone}.isdisjoint(groups) and "cml-baked-empty" not in groups
    assert {g.split("/")[4] for g in left} <= groups

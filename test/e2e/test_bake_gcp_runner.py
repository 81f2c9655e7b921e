"""Baked images in runner mode and in the sweep, on GCP, through the real process against the local Compute Engine:
runner mode with CLOUD_IMAGE unset boots the newest baked image of ours with the current recipe hash (and its
script says the boot skips the installs), CLOUD_IMAGE: stock forces the stock image, other recipes' and other
repositories' images are never used; COMMAND: sweep deletes our baked images older than the newest two per
recipe, and nothing that is not provably this repository's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.bitbucket import FakeBitbucket
from fakes.gcp import FakeGcp
from fixtures_pipe import output_lines, run_pipe
from test_bake_gcp import UBUNTU, GcpBakeGuest
from vm_standin import VmStandIn

from pipe.bake.recipe import Recipe
from pipe.bootstrap.render import DEFAULT_RUNNER_IMAGE, FAST_PATH

CURRENT = Recipe(base_image=UBUNTU, runner_image=DEFAULT_RUNNER_IMAGE, gpu=False).hash
OTHER_REPOSITORY = "99999999-2222-3333-4444-555555555555"


@pytest.fixture()
def env(gcp_env: dict[str, str], bb_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **gcp_env,
        **bb_env,
        "CLOUD_REGION": "us-west",
        "WAIT_TIMEOUT": "60s",
        "CML_RUNNER_POLL_SECONDS": "0.1",
        "BITBUCKET_PIPE_SHARED_STORAGE_DIR": str(tmp_path),
    }


@pytest.fixture()
def repo_tag(bitbucket: FakeBitbucket) -> str:
    return bitbucket.repo().uuid.strip("{}").lower()


def runner_vms(gcp: FakeGcp, bitbucket: FakeBitbucket) -> VmStandIn:
    """Boots runners' instances from their startup-script (started after any bake, whose VM is GcpBakeGuest)."""
    return VmStandIn(gcp.boot_payloads, f"{bitbucket.root_url}/_fake/oauth2/token").start()


@pytest.fixture()
def vm(fake_gcp: FakeGcp, bitbucket: FakeBitbucket) -> Iterator[VmStandIn]:
    standin = runner_vms(fake_gcp, bitbucket)
    yield standin
    standin.stop()


def baked(gcp: FakeGcp, name: str, repository: str, recipe: str, created: int) -> str:
    labels = {"cml-managed-by": "cml-runner-pipe", "cml-repository": repository, "cml-role": "baked-image",
              "cml-recipe": recipe, "cml-created-at": str(created)}  # fmt: skip
    gcp.add_image(gcp.project, name, labels=labels, disk_size_gb=10)
    return f"projects/{gcp.project}/global/images/{name}"


def booted_from(gcp: FakeGcp) -> str:
    [disk] = gcp.disks()
    return str(disk["sourceImage"])


def startup_script(gcp: FakeGcp) -> str:
    [raw] = gcp.instances()
    return str({i["key"]: i.get("value", "") for i in raw["metadata"]["items"]}["startup-script"])


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_runner_mode_boots_the_newest_baked_image_of_the_current_recipe_and_its_boot_skips_the_installs(
    env: dict[str, str], fake_gcp: FakeGcp, bitbucket: FakeBitbucket, repo_tag: str
) -> None:
    baked(fake_gcp, "cml-baked-older", repo_tag, CURRENT, 100)  # an older bake of the same recipe
    with GcpBakeGuest(fake_gcp):
        made = run_pipe({**env, "COMMAND": "bake"})
    assert made.returncode == 0, made.stdout + made.stderr
    newest = re.findall(r"Baked image (projects/\S+)", "\n".join(output_lines(made)))[-1]

    vm = runner_vms(fake_gcp, bitbucket)
    try:
        proc = run_pipe(env)
    finally:
        vm.stop()
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert booted_from(fake_gcp) == newest
    assert re.search(rf"Plan: image: {newest} \(cml-baked-{CURRENT}-\d+\), baked from {UBUNTU} for recipe "
                     rf"{CURRENT}: the boot skips the installs and the pull", out), out  # fmt: skip
    assert FAST_PATH in startup_script(fake_gcp)
    assert fake_gcp.validation_errors == []


def test_cloud_image_stock_boots_the_stock_image_even_with_a_baked_one(
    env: dict[str, str], fake_gcp: FakeGcp, repo_tag: str, vm: VmStandIn
) -> None:
    baked(fake_gcp, "cml-baked-current", repo_tag, CURRENT, 100)
    proc = run_pipe({**env, "CLOUD_IMAGE": "stock"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert booted_from(fake_gcp) == UBUNTU
    assert "stock (CLOUD_IMAGE: stock)" in out and FAST_PATH not in startup_script(fake_gcp)


def test_images_of_another_recipe_another_repository_or_not_yet_made_are_never_booted(
    env: dict[str, str], fake_gcp: FakeGcp, repo_tag: str, vm: VmStandIn
) -> None:
    baked(fake_gcp, "cml-baked-stale", repo_tag, "0" * 12, 100)  # a stale recipe of ours
    baked(fake_gcp, "cml-baked-theirs", OTHER_REPOSITORY, CURRENT, 200)  # another repository's
    pending = baked(fake_gcp, "cml-baked-pending", repo_tag, CURRENT, 300)
    fake_gcp.state.images[(fake_gcp.project, pending.rsplit("/", 1)[-1])]["status"] = "PENDING"  # being made
    proc = run_pipe(env)
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert booted_from(fake_gcp) == UBUNTU
    assert f"stock (no baked image of ours for recipe {CURRENT} in us-west1" in out
    assert FAST_PATH not in startup_script(fake_gcp)


def test_sweep_deletes_baked_images_older_than_the_newest_two_per_recipe_and_nothing_else(
    env: dict[str, str], fake_gcp: FakeGcp, repo_tag: str
) -> None:
    current = [baked(fake_gcp, f"cml-baked-current-{t}", repo_tag, CURRENT, t) for t in (100, 400, 200, 300)]
    old_recipe = baked(fake_gcp, "cml-baked-old-recipe", repo_tag, "0" * 12, 50)
    others = [baked(fake_gcp, f"cml-baked-theirs-{t}", OTHER_REPOSITORY, CURRENT, t) for t in (1, 2, 3)]
    fake_gcp.add_image(fake_gcp.project, "team-image", labels={"team": "ml"})
    failed = baked(fake_gcp, "cml-baked-failed", repo_tag, CURRENT, 500)
    fake_gcp.state.images[(fake_gcp.project, failed.rsplit("/", 1)[-1])]["status"] = "FAILED"

    proc = run_pipe({**env, "COMMAND": "sweep"})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    assert "3 stale baked image(s) deleted" in out
    left = {f"projects/{fake_gcp.project}/global/images/{i['name']}" for i in fake_gcp.images_of()}
    gone = {current[0], current[2], failed}  # created at 100 and 200: older than the newest two (400, 300)
    assert gone.isdisjoint(left)
    assert {current[1], current[3], old_recipe, *others, f"projects/{fake_gcp.project}/global/images/team-image"} == (
        left
    )

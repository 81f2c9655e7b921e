"""GcpProvider's machine images (COMMAND: bake, pipe/providers/gcp/baked.py) through the real compute SDK against
the local Compute Engine, every request held to Google's discovery document; and the image rules the local
Compute Engine keeps (fakes/gcp/images.py), each checked on the wire."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
import requests
from fakes.gcp import FakeGcp, validate

from pipe.providers.base import InstanceSpec, ProviderError

if TYPE_CHECKING:
    from pipe.providers.gcp.lifecycle import GcpProvider

REPO = "11111111-2222-3333-4444-555555555555"
OTHER = "99999999-2222-3333-4444-555555555555"


def tags(
    repository: str = REPO, recipe: str = "abcdef012345", bake_id: str = "b-1", created: int = 100
) -> dict[str, str]:
    return {"cml-managed-by": "cml-runner-pipe", "cml-repository": repository, "cml-role": "baked-image",
            "cml-bake-id": bake_id, "cml-recipe": recipe, "cml-created-at": str(created)}  # fmt: skip


def stopped_bake_instance(provider: GcpProvider, fake: FakeGcp, make: Callable[..., InstanceSpec]) -> Any:
    spec = replace(make(image=provider.resolve_image("", gpu=False)), stop_on_shutdown=True)
    instance = provider.launch(spec, "us-west1-b", spot=False)
    fake.power_off(instance.id)  # the guest powered itself off: TERMINATED, the disk kept
    [stopped] = [i for i in provider.list_ours() if i.id == instance.id]
    assert stopped.state == "stopped"
    return stopped


def test_an_image_is_made_from_the_stopped_instance_listed_by_label_and_deleted_every_request_valid(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Callable[..., InstanceSpec]
) -> None:
    stopped = stopped_bake_instance(gcp_provider, fake_gcp, gcp_spec)
    made = gcp_provider.create_image(stopped, "cml-baked-abcdef012345-0000000100", tags())
    assert made.id == f"projects/{fake_gcp.project}/global/images/cml-baked-abcdef012345-0000000100"
    assert made.state == "pending"
    states = [gcp_provider.image(made.id).state for _ in range(3)]  # type: ignore[union-attr]
    assert states[0] == "pending" and states[-1] == "available"
    [raw] = fake_gcp.images_of()
    assert raw["family"] == f"cml-{REPO}-abcdef012345" and raw["sourceDisk"].endswith(f"/disks/{stopped.id}")
    assert [i.id for i in gcp_provider.images_ours(REPO)] == [made.id] and gcp_provider.images_ours(OTHER) == []

    gcp_provider.terminate(stopped)  # the image keeps its data: the instance and its auto-delete disk go
    assert fake_gcp.disks() == [] and gcp_provider.image(made.id) is not None
    [image] = gcp_provider.images_ours(REPO)
    gcp_provider.delete_image(image)
    gcp_provider.delete_image(image)  # a missing one is not an error
    assert fake_gcp.images_of() == [] and gcp_provider.image(made.id) is None

    served = {r.method_id for r in fake_gcp.requests}
    assert served >= {"compute.images.insert", "compute.images.get", "compute.images.list", "compute.images.delete",
                      "compute.globalOperations.wait"}  # fmt: skip
    assert fake_gcp.validation_errors == []
    [insert] = fake_gcp.calls("compute.images.insert")
    assert validate("Image", insert.body, method_id="compute.images.insert") == []
    assert insert.query.get("forceCreate") in (None, "false") and insert.query.get("requestId")


def test_images_ours_needs_our_label_and_this_repository_and_delete_bake_leftovers_only_that_bakes(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider
) -> None:
    project = fake_gcp.project
    fake_gcp.add_image(project, "mine-1", labels=tags(bake_id="b-1"))
    fake_gcp.add_image(project, "mine-2", labels=tags(bake_id="b-2"))
    fake_gcp.add_image(project, "theirs", labels=tags(repository=OTHER, bake_id="b-1"))
    fake_gcp.add_image(project, "unlabelled", labels={"cml-repository": REPO, "cml-bake-id": "b-1"})
    assert sorted(i.name for i in gcp_provider.images_ours(REPO)) == ["mine-1", "mine-2"]
    gcp_provider.delete_bake_leftovers(REPO, "b-1")
    assert sorted(i["name"] for i in fake_gcp.images_of()) == ["mine-2", "theirs", "unlabelled"]


def test_deleting_a_pending_image_waits_until_gce_has_made_it(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Callable[..., InstanceSpec]
) -> None:
    stopped = stopped_bake_instance(gcp_provider, fake_gcp, gcp_spec)
    made = gcp_provider.create_image(stopped, "cml-baked-abcdef012345-0000000100", tags())
    gcp_provider.delete_image(made)  # refused while PENDING (resourceNotReady), read until READY, then deleted
    assert ("compute.images.delete", 400) in [(r.method_id, r.status) for r in fake_gcp.requests]
    assert fake_gcp.images_of() == []


def test_a_bake_instance_is_never_spot_nor_limited_in_run_time(
    gcp_provider: GcpProvider, gcp_spec: Callable[..., InstanceSpec]
) -> None:
    from pipe.providers.gcp.request import Network, instance_body

    spec = replace(gcp_spec(), stop_on_shutdown=True)
    way = Network("us-west1", "default")
    with pytest.raises(ProviderError, match="never Spot"):
        instance_body(spec, "us-west1-b", True, way)
    with pytest.raises(ProviderError, match="maximum run duration"):
        instance_body(replace(spec, max_lifetime_s=600), "us-west1-b", False, way)
    body = instance_body(spec, "us-west1-b", False, way)
    assert body.disks[0].auto_delete and not body.scheduling.instance_termination_action


# ---- the local Compute Engine's rules, on the wire ---------------------------------------------


def post_image(fake: FakeGcp, body: dict[str, Any], query: str = "") -> requests.Response:
    return requests.post(f"{fake.url}/compute/v1/projects/{fake.project}/global/images{query}", json=body, timeout=5)


@pytest.fixture()
def disk(fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Callable[..., InstanceSpec]) -> str:
    """The boot disk of a launched (RUNNING) instance."""
    instance = gcp_provider.launch(gcp_spec(image=gcp_provider.resolve_image("", gpu=False)), "us-west1-b", False)
    [raw] = [i for i in fake_gcp.instances() if i["name"] == instance.id]
    return str(raw["disks"][0]["source"])


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"name": "x" * 64}, "Image.name"),  # the discovery pattern, before the handler
        ({"name": "Upper"}, "Image.name"),
        ({"name": "ok", "family": "-bad"}, "resource.family"),
        ({"name": "ok", "labels": {"Key": "v"}}, "resource.labels"),
        ({"name": "ok", "labels": {"k": "x" * 64}}, "resource.labels"),
        ({"name": "ok", "labels": {f"k{i}": "v" for i in range(65)}}, "at most 64 labels"),
    ],
    ids=["name-64", "name-upper", "family", "label-key", "label-value", "65-labels"],
)
def test_the_local_gce_refuses_bad_image_names_families_and_labels(
    fake_gcp: FakeGcp, disk: str, body: dict[str, Any], said: str
) -> None:
    fake_gcp.power_off(disk.rsplit("/", 1)[-1])
    answer = post_image(fake_gcp, {**body, "sourceDisk": disk})
    assert answer.status_code == 400 and said in answer.json()["error"]["message"]
    assert fake_gcp.images_of() == []


def test_the_local_gce_images_a_running_instances_disk_only_when_forced(fake_gcp: FakeGcp, disk: str) -> None:
    refused = post_image(fake_gcp, {"name": "live", "sourceDisk": disk})
    assert refused.status_code == 400
    assert refused.json()["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    assert "is already being used by" in refused.json()["error"]["message"]
    assert post_image(fake_gcp, {"name": "live", "sourceDisk": disk}, "?forceCreate=true").status_code == 200
    assert post_image(fake_gcp, {"name": "live", "sourceDisk": disk}, "?forceCreate=true").status_code == 409


def test_the_local_gce_keeps_a_disk_without_auto_delete_when_its_instance_goes(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Callable[..., InstanceSpec]
) -> None:
    instance = gcp_provider.launch(gcp_spec(image=gcp_provider.resolve_image("", gpu=False)), "us-west1-b", False)
    key = (fake_gcp.project, "us-west1-b", instance.id)
    fake_gcp.state.instances[key]["disks"][0]["autoDelete"] = False
    gcp_provider.terminate(instance)
    [left] = fake_gcp.disks()
    assert left["name"] == instance.id and left["users"] == []

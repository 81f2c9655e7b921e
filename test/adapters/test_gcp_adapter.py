"""The GCP adapter through the real google-cloud-compute SDK, over real HTTP, against the local server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from cloud_options import provider_from_env
from fakes.gcp import FakeGcp, validate

from pipe.providers.base import (
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    TAG_RUNNER_UUID,
    CapacityError,
    Instance,
    InstanceSpec,
    ProviderError,
)
from pipe.providers.gcp.lifecycle import GcpProvider

Spec = Callable[..., InstanceSpec]
ZONE = "us-west1-b"
OURS = {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, TAG_RUNNER_UUID: "r1", TAG_REPOSITORY: "acme_ml-repo"}


def _insert_body(fake: FakeGcp) -> dict[str, Any]:
    inserts = fake.calls("compute.instances.insert")
    assert len(inserts) == 1
    body: dict[str, Any] = inserts[0].body
    assert validate("Instance", body, method_id="compute.instances.insert") == []
    return body


def test_gpu_spot_launch_creates_exactly_one_instance_as_specified(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    spec = gcp_spec(instance_type="n1-standard-4", accelerator="nvidia-tesla-t4", accelerator_count=1,
                    disk_gb=100, max_lifetime_s=7200)  # fmt: skip

    instance = gcp_provider.launch(spec, ZONE, spot=True)

    assert instance == Instance(cloud="gcp", id=spec.name, name=spec.name, region="us-west1", zone=ZONE,
                                instance_type="n1-standard-4", spot=True, state="running", tags=spec.tags)  # fmt: skip
    [created] = fake_gcp.instances()
    assert created["name"] == spec.name and created["status"] == "RUNNING"
    body = _insert_body(fake_gcp)
    assert body["machineType"] == f"zones/{ZONE}/machineTypes/n1-standard-4"
    assert body["guestAccelerators"] == [
        {"acceleratorType": f"zones/{ZONE}/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 1}
    ]
    assert body["scheduling"] == {
        "provisioningModel": "SPOT",
        "instanceTerminationAction": "DELETE",
        "automaticRestart": False,
        "onHostMaintenance": "TERMINATE",
        "maxRunDuration": {"seconds": "7200"},  # int64 on the wire as a string
    }
    [disk] = body["disks"]
    assert disk["boot"] is True and disk["autoDelete"] is True
    assert disk["initializeParams"] == {
        "sourceImage": spec.image,
        "diskSizeGb": "100",
        "diskType": f"zones/{ZONE}/diskTypes/pd-balanced",
        "labels": spec.tags,
    }
    assert body["labels"] == spec.tags
    metadata = {item["key"]: item["value"] for item in body["metadata"]["items"]}
    assert metadata["startup-script"] == spec.user_data
    # An ephemeral external IP by default (a fresh project has no Cloud NAT); inbound closed by our rule on the tag.
    assert body["networkInterfaces"] == [
        {"network": "global/networks/default", "accessConfigs": [{"name": "external-nat", "type": "ONE_TO_ONE_NAT"}]}
    ]
    assert body["tags"] == {"items": ["cml-runner-pipe"]}
    assert "serviceAccounts" not in body  # least privilege by default
    # The adapter really waited: the operation needed two polls, through zoneOperations.wait.
    assert len(fake_gcp.calls("compute.zoneOperations.wait")) == 2
    assert fake_gcp.validation_errors == []


@pytest.mark.parametrize("machine_type", ["g2-standard-8", "a2-highgpu-1g", "a3-highgpu-1g"])
def test_on_demand_types_with_built_in_gpus_terminate_on_host_maintenance(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec, machine_type: str
) -> None:
    """g2/a2/a3 carry their GPUs in the type: without TERMINATE GCP refuses the insert (live migration)."""
    gcp_provider.launch(gcp_spec(instance_type=machine_type, max_lifetime_s=None), ZONE, spot=False)

    body = _insert_body(fake_gcp)
    assert body["scheduling"] == {"provisioningModel": "STANDARD", "onHostMaintenance": "TERMINATE"}
    assert "guestAccelerators" not in body
    assert {i["key"]: i["value"] for i in body["metadata"]["items"]}["install-nvidia-driver"] == "True"
    assert [i["name"] for i in fake_gcp.instances(ZONE)] == ["cml-a1b2c3d4e5"]


def test_the_local_gcp_refuses_a_gpu_type_that_would_live_migrate(fake_gcp: FakeGcp, gcp_spec: Spec) -> None:
    body = {
        "name": "cml-g2",
        "machineType": f"zones/{ZONE}/machineTypes/g2-standard-8",
        "scheduling": {"provisioningModel": "STANDARD"},
        "disks": [{"boot": True, "initializeParams": {"sourceImage": gcp_spec().image}}],
        "networkInterfaces": [{"network": "global/networks/default"}],
    }
    url = f"{fake_gcp.url}/compute/v1/projects/{fake_gcp.project}/zones/{ZONE}/instances"
    answer = requests.post(url, json=body, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Instances with guest accelerators do not support live migration."
    assert fake_gcp.instances() == []


def test_on_demand_cpu_launch_has_no_gpu_or_spot_settings(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    gcp_provider.launch(gcp_spec(), ZONE, spot=False)

    body = _insert_body(fake_gcp)
    assert body["scheduling"] == {"provisioningModel": "STANDARD"}
    assert "guestAccelerators" not in body
    assert [i["name"] for i in fake_gcp.instances(ZONE)] == ["cml-a1b2c3d4e5"]


def test_max_lifetime_on_standard_vm_deletes_at_expiry(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    gcp_provider.launch(gcp_spec(max_lifetime_s=3600), ZONE, spot=False)

    assert _insert_body(fake_gcp)["scheduling"] == {
        "provisioningModel": "STANDARD",
        "maxRunDuration": {"seconds": "3600"},
        "instanceTerminationAction": "DELETE",
    }


def test_labels_are_sanitised_defensively(fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec) -> None:
    spec = gcp_spec(tags={**OURS, "Team Name": "ML Research!", "9lives": "x" * 80})

    gcp_provider.launch(spec, ZONE, spot=False)

    labels = _insert_body(fake_gcp)["labels"]
    assert labels["team_name"] == "ml_research"
    assert labels["x9lives"] == "x" * 63
    assert labels[TAG_RUNNER_UUID] == "r1"


def test_service_account_and_scopes_from_permission_set(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    spec = gcp_spec(permission_set="runner@my-proj.iam.gserviceaccount.com,scopes=storage-ro,logging-write")

    gcp_provider.launch(spec, ZONE, spot=False)

    assert _insert_body(fake_gcp)["serviceAccounts"] == [
        {
            "email": "runner@my-proj.iam.gserviceaccount.com",
            "scopes": [
                "https://www.googleapis.com/auth/devstorage.read_only",
                "https://www.googleapis.com/auth/logging.write",
            ],
        }
    ]


def test_network_subnetwork_and_external_ip_from_the_variables(
    fake_gcp: FakeGcp, gcp_env: dict[str, str], gcp_spec: Spec
) -> None:
    env = {**gcp_env, "GCP_NETWORK": "ml-vpc", "GCP_SUBNETWORK": "runners", "GCP_EXTERNAL_IP": "true"}

    provider_from_env("gcp", "us-west1", env).launch(gcp_spec(), ZONE, spot=False)

    [nic] = _insert_body(fake_gcp)["networkInterfaces"]
    assert nic == {
        "network": "global/networks/ml-vpc",
        "subnetwork": "regions/us-west1/subnetworks/runners",
        "accessConfigs": [{"name": "external-nat", "type": "ONE_TO_ONE_NAT"}],
    }


def test_default_network_gives_a_way_out_and_closes_inbound_with_one_rule_of_ours(
    fake_gcp: FakeGcp, gcp_env: dict[str, str], gcp_spec: Spec
) -> None:
    """A fresh project: default network, no Cloud NAT. The VM gets an ephemeral external IP; our deny-ingress rule
    on its tag is created once and kept for later runs."""
    provider_from_env("gcp", "us-west1", gcp_env).launch(gcp_spec(), ZONE, spot=False)
    provider_from_env("gcp", "us-west1", gcp_env).launch(gcp_spec(name="cml-second0001"), ZONE, spot=False)

    assert fake_gcp.has_egress(ZONE, "cml-a1b2c3d4e5") and fake_gcp.has_egress(ZONE, "cml-second0001")
    [rule] = fake_gcp.firewalls()
    assert {k: rule[k] for k in ("name", "direction", "priority", "denied", "sourceRanges", "targetTags")} == {
        "name": "cml-runner-deny-ingress-default",
        "direction": "INGRESS",
        "priority": 0,
        "denied": [{"IPProtocol": "all"}],
        "sourceRanges": ["0.0.0.0/0"],
        "targetTags": ["cml-runner-pipe"],
    }
    assert rule["network"].endswith("/global/networks/default")
    assert len(fake_gcp.calls("compute.firewalls.insert")) == 1
    assert fake_gcp.validation_errors == []
    for record in fake_gcp.calls("compute.firewalls.insert"):
        assert validate("Firewall", record.body, method_id="compute.firewalls.insert") == []


def test_without_external_ip_a_cloud_nat_on_the_subnet_is_required_before_anything_is_created(
    fake_gcp: FakeGcp, gcp_env: dict[str, str], gcp_spec: Spec
) -> None:
    env = {**gcp_env, "GCP_EXTERNAL_IP": "false"}
    with pytest.raises(ProviderError, match=r"^GCP_EXTERNAL_IP: 'false' .* no Cloud NAT .* us-west1"):
        provider_from_env("gcp", "us-west1", env).launch(gcp_spec(), ZONE, spot=False)
    assert fake_gcp.instances() == []

    fake_gcp.add_router("us-west1", "other-net-router", network="other")  # NAT, but on another network
    fake_gcp.add_router("us-west1", "listed-router", subnetworks=["not-ours"])  # NAT for another subnet only
    with pytest.raises(ProviderError, match="no Cloud NAT"):
        provider_from_env("gcp", "us-west1", env).launch(gcp_spec(), ZONE, spot=False)

    fake_gcp.add_router("us-west1", "nat-router")
    provider_from_env("gcp", "us-west1", env).launch(gcp_spec(), ZONE, spot=False)
    [nic] = _insert_body(fake_gcp)["networkInterfaces"]
    assert "accessConfigs" not in nic
    assert fake_gcp.has_egress(ZONE, "cml-a1b2c3d4e5")


def test_the_local_gcp_flags_an_instance_that_would_have_no_way_out(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the old default did: no external IP on a network without Cloud NAT. GCP accepts the insert; the VM
    can never reach Bitbucket."""
    from pipe.providers.gcp import egress
    from pipe.providers.gcp.request import Network

    gcp_provider.way = Network(gcp_provider.region, "default", external_ip=False)
    monkeypatch.setattr(egress, "require_nat", lambda api, way: None)
    gcp_provider.launch(gcp_spec(), ZONE, spot=False)
    assert fake_gcp.has_egress(ZONE, "cml-a1b2c3d4e5") is False


def test_no_right_to_create_our_firewall_rule_says_how_to_fix_it(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.fail("firewalls.insert", 403, message="Required 'compute.firewalls.create' permission", times=None)
    with pytest.raises(ProviderError) as error:
        gcp_provider.launch(gcp_spec(), ZONE, spot=False)
    assert "compute.firewalls.create" in str(error.value) and "gcloud compute firewall-rules create" in str(error.value)
    assert fake_gcp.instances() == []


def test_no_right_to_list_routers_is_only_a_warning(
    fake_gcp: FakeGcp, gcp_env: dict[str, str], gcp_spec: Spec, caplog: pytest.LogCaptureFixture
) -> None:
    fake_gcp.fail("routers.list", 403, message="Required 'compute.routers.list' permission")
    provider_from_env("gcp", "us-west1", {**gcp_env, "GCP_EXTERNAL_IP": "false"}).launch(gcp_spec(), ZONE, spot=False)
    assert "Could not check for Cloud NAT" in caplog.text
    assert [i["name"] for i in fake_gcp.instances()] == ["cml-a1b2c3d4e5"]


@pytest.mark.parametrize("code", ["ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"])
@pytest.mark.parametrize("leave_instance", [False, True])
def test_zone_capacity_error_raises_capacity_error_and_leaves_nothing(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec, code: str, leave_instance: bool
) -> None:
    fake_gcp.capacity(ZONE, code=code, leave_instance=leave_instance)

    with pytest.raises(CapacityError, match="does not have enough resources"):
        gcp_provider.launch(gcp_spec(), ZONE, spot=False)

    assert fake_gcp.instances() == []
    assert len(fake_gcp.calls("compute.instances.delete")) == (1 if leave_instance else 0)


def test_spot_stockout_then_on_demand_in_same_zone(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.capacity(ZONE, spot=True, code="STOCKOUT")

    with pytest.raises(CapacityError, match="Spot"):
        gcp_provider.launch(gcp_spec(), ZONE, spot=True)
    instance = gcp_provider.launch(gcp_spec(), ZONE, spot=False)

    assert instance.spot is False
    assert [i["name"] for i in fake_gcp.instances()] == [instance.name]


def test_capacity_in_one_zone_only(fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec) -> None:
    fake_gcp.capacity("us-west1-a")

    with pytest.raises(CapacityError):
        gcp_provider.launch(gcp_spec(), "us-west1-a", spot=False)
    assert gcp_provider.launch(gcp_spec(), "us-west1-b", spot=False).zone == "us-west1-b"


def test_accelerator_not_offered_in_zone_is_a_capacity_error(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.set_accelerators(ZONE, [])
    spec = gcp_spec(instance_type="n1-standard-4", accelerator="nvidia-tesla-t4", accelerator_count=1)

    with pytest.raises(CapacityError, match="not offered in us-west1-b"):
        gcp_provider.launch(spec, ZONE, spot=False)
    assert fake_gcp.instances() == []


def test_quota_is_permanent_and_says_what_to_change(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.fail_operation("instances.insert", "QUOTA_EXCEEDED", http_status=403,
                            message="Quota 'NVIDIA_T4_GPUS' exceeded.  Limit: 0.0 in region us-west1.")  # fmt: skip

    with pytest.raises(ProviderError) as caught:
        gcp_provider.launch(gcp_spec(), ZONE, spot=False)

    assert not isinstance(caught.value, CapacityError)
    assert "NVIDIA_T4_GPUS" in str(caught.value) and "CLOUD_REGION" in str(caught.value)
    assert fake_gcp.instances() == []


def test_permission_denied_names_the_permission(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.fail("instances.insert", 403,
                  message=f"Required 'compute.instances.create' permission for 'projects/{fake_gcp.project}/zones/"
                  f"{ZONE}/instances/cml-a1b2c3d4e5'")  # fmt: skip

    with pytest.raises(ProviderError, match=r"compute\.instances\.create.*roles/compute\.instanceAdmin\.v1"):
        gcp_provider.launch(gcp_spec(), ZONE, spot=False)
    assert fake_gcp.instances() == []


def test_operation_ending_in_error_rolls_back(fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec) -> None:
    fake_gcp.fail_operation("instances.insert", "UNSUPPORTED_OPERATION", message="Boot disk is broken",
                            leave_instance=True, http_status=400)  # fmt: skip

    with pytest.raises(ProviderError, match="Boot disk is broken") as caught:
        gcp_provider.launch(gcp_spec(), ZONE, spot=False)

    assert not isinstance(caught.value, CapacityError)
    assert fake_gcp.instances() == []


def test_insert_5xx_is_retried_with_the_same_request_id(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.fail("instances.insert", 503, times=2)

    gcp_provider.launch(gcp_spec(), ZONE, spot=False)

    inserts = fake_gcp.calls("compute.instances.insert")
    assert [r.status for r in inserts] == [503, 503, 200]
    assert len({r.query["requestId"] for r in inserts}) == 1
    assert len(fake_gcp.instances()) == 1


def test_5xx_storm_is_a_clear_error_with_nothing_left(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.fail("instances.insert", 500, times=None)

    with pytest.raises(ProviderError, match="GCP API unavailable"):
        gcp_provider.launch(gcp_spec(), ZONE, spot=False)
    assert fake_gcp.instances() == []


def test_slow_operation_is_waited_for(fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec) -> None:
    fake_gcp.slow_operations(6, kind="insert")

    assert gcp_provider.launch(gcp_spec(), ZONE, spot=False).state == "running"
    assert len(fake_gcp.calls("compute.zoneOperations.wait")) == 6


def test_operation_never_done_times_out_and_rolls_back(fake_gcp: FakeGcp, gcp_spec: Spec) -> None:
    fake_gcp.slow_operations(10**9, kind="insert")
    provider = GcpProvider("us-west1", project=fake_gcp.project, endpoint=fake_gcp.url, poll_interval_s=0.01,
                           retry_backoff_s=0, operation_timeout_s=0.2)  # fmt: skip

    with pytest.raises(ProviderError, match="not done after"):
        provider.launch(gcp_spec(), ZONE, spot=False)
    assert fake_gcp.instances() == []


def test_existing_instance_of_the_same_runner_is_returned(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    first = gcp_provider.launch(gcp_spec(), ZONE, spot=False)

    again = gcp_provider.launch(gcp_spec(), ZONE, spot=False)  # e.g. the flow retrying after a lost answer

    assert again == first and len(fake_gcp.instances()) == 1


def test_name_clash_with_someone_elses_instance_is_an_error_and_not_touched(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    fake_gcp.add_instance(ZONE, "cml-a1b2c3d4e5", labels={"team": "other"})

    with pytest.raises(ProviderError, match="already exists"):
        gcp_provider.launch(gcp_spec(), ZONE, spot=False)
    assert [i["labels"] for i in fake_gcp.instances()] == [{"team": "other"}]
    assert fake_gcp.calls("compute.instances.delete") == []


def test_list_ours_finds_only_our_instances_in_the_region(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.add_instance("us-west1-a", "cml-mine-run", labels=OURS)
    fake_gcp.add_instance("us-west1-c", "cml-mine-off", labels=OURS, status="TERMINATED", spot=True)
    fake_gcp.add_instance("us-west1-b", "cml-other-rep", labels={**OURS, TAG_REPOSITORY: "acme_other"})
    fake_gcp.add_instance("us-west1-b", "not-ours", labels={"team": "data"})
    fake_gcp.add_instance("us-east1-b", "cml-elsewhere", labels=OURS)

    everything = {i.name: i for i in gcp_provider.list_ours()}
    one_repo = [i.name for i in gcp_provider.list_ours("acme_ml-repo")]

    assert set(everything) == {"cml-mine-run", "cml-mine-off", "cml-other-rep"}
    assert everything["cml-mine-run"].state == "running" and everything["cml-mine-run"].zone == "us-west1-a"
    # A TERMINATED GCP instance still exists and bills its disk: reported as stopped so the sweep deletes it.
    assert everything["cml-mine-off"].state == "stopped" and everything["cml-mine-off"].spot is True
    assert everything["cml-mine-run"].runner_uuid == "r1"
    assert sorted(one_repo) == ["cml-mine-off", "cml-mine-run"]
    filters = [r.query.get("filter", "") for r in fake_gcp.calls("compute.instances.aggregatedList")]
    assert filters[-1] == (
        f'(labels.{TAG_MANAGED_BY} = "{TAG_MANAGED_BY_VALUE}") (labels.{TAG_REPOSITORY} = "acme_ml-repo")'
    )


def test_list_ours_follows_pages(fake_gcp: FakeGcp, gcp_provider: GcpProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):
        fake_gcp.add_instance("us-west1-a", f"cml-page-{n}", labels=OURS)
    from google.cloud import compute_v1

    original = compute_v1.AggregatedListInstancesRequest

    def small_pages(**kwargs: Any) -> Any:
        return original(max_results=2, **kwargs)

    monkeypatch.setattr(compute_v1, "AggregatedListInstancesRequest", small_pages)

    assert len(gcp_provider.list_ours()) == 5
    assert len(fake_gcp.calls("compute.instances.aggregatedList")) == 3


def test_list_ours_permission_denied(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.fail("instances.aggregatedList", 403, message="Required 'compute.instances.list' permission")

    with pytest.raises(ProviderError, match=r"permission to list instances.*compute\.instances\.list"):
        gcp_provider.list_ours()


def test_terminate_deletes_and_waits_and_a_missing_instance_is_fine(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    instance = gcp_provider.launch(gcp_spec(), ZONE, spot=False)
    waits_before = len(fake_gcp.calls("compute.zoneOperations.wait"))

    gcp_provider.terminate(instance)
    gcp_provider.terminate(instance)

    assert fake_gcp.instances() == []
    assert gcp_provider.list_ours() == []
    assert [r.status for r in fake_gcp.calls("compute.instances.delete")] == [200, 404]
    assert len(fake_gcp.calls("compute.zoneOperations.wait")) - waits_before == 2


def test_terminate_retries_a_transient_failure(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.add_instance(ZONE, "cml-x", labels=OURS)
    fake_gcp.fail("instances.delete", 503)
    fake_gcp.fail("zoneOperations.wait", 502)

    [instance] = gcp_provider.list_ours()
    gcp_provider.terminate(instance)

    assert fake_gcp.instances() == []


def test_terminate_permission_denied(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.add_instance(ZONE, "cml-x", labels=OURS)
    fake_gcp.fail("instances.delete", 403, message="Required 'compute.instances.delete' permission")
    [instance] = gcp_provider.list_ours()

    with pytest.raises(ProviderError, match=r"compute\.instances\.delete"):
        gcp_provider.terminate(instance)


# ---- images -------------------------------------------------------------------------------------


def test_default_cpu_image_is_current_ubuntu_lts(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.add_image("ubuntu-os-cloud", "ubuntu-2404-noble-amd64-v20261201", family="ubuntu-2404-lts-amd64",
                       created="2026-12-01", deprecated=True)  # fmt: skip

    image = gcp_provider.resolve_image("", gpu=False)

    assert image.endswith("projects/ubuntu-os-cloud/global/images/ubuntu-2404-noble-amd64-v20261101")
    assert fake_gcp.calls("compute.images.getFromFamily")[0].path == (
        "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"
    )


def test_default_gpu_image_is_a_deep_learning_image_with_the_driver(gcp_provider: GcpProvider) -> None:
    image = gcp_provider.resolve_image("", gpu=True)

    assert "/projects/deeplearning-platform-release/global/images/common-cu128-ubuntu-2204-nvidia-570-" in image


def test_cloud_image_project_family_and_project_image(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.add_image("my-proj", "trainer-v3", family="trainer")

    assert gcp_provider.resolve_image("my-proj/trainer", gpu=True).endswith("projects/my-proj/global/images/trainer-v3")
    assert gcp_provider.resolve_image("my-proj/trainer-v3", gpu=False).endswith("/images/trainer-v3")


@pytest.mark.parametrize(
    "link",
    [
        "https://www.googleapis.com/compute/v1/projects/my-proj/global/images/trainer-v3",
        "projects/my-proj/global/images/family/trainer",
        "projects/my-proj/global/images/trainer-v3",
    ],
)
def test_cloud_image_link_is_used_as_is(fake_gcp: FakeGcp, gcp_provider: GcpProvider, link: str) -> None:
    assert gcp_provider.resolve_image(link, gpu=False) == link
    assert fake_gcp.requests == []


def test_unknown_image_names_cloud_image(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    with pytest.raises(ProviderError, match="CLOUD_IMAGE 'my-proj/nothing'"):
        gcp_provider.resolve_image("my-proj/nothing", gpu=False)
    with pytest.raises(ProviderError, match="CLOUD_IMAGE 'ubuntu': use 'project/family'"):
        gcp_provider.resolve_image("ubuntu", gpu=False)


def test_missing_image_at_insert_names_cloud_image(
    fake_gcp: FakeGcp, gcp_provider: GcpProvider, gcp_spec: Spec
) -> None:
    with pytest.raises(ProviderError, match="CLOUD_IMAGE"):
        gcp_provider.launch(gcp_spec(image="projects/my-proj/global/images/gone"), ZONE, spot=False)
    assert fake_gcp.instances() == []


# ---- zones --------------------------------------------------------------------------------------


def test_zones_offering_the_type_in_one_call(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.set_machine_types("us-west1-c", ["e2-small"])

    assert gcp_provider.zones("n1-standard-4") == ["us-west1-a", "us-west1-b"]
    [call] = fake_gcp.calls("compute.machineTypes.aggregatedList")
    assert call.query["filter"] == 'name = "n1-standard-4"'


def test_zones_for_custom_types_use_their_series(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.set_machine_types("us-west1-a", ["n1-standard-4"])

    assert gcp_provider.zones("e2-custom-8-32768") == ["us-west1-b", "us-west1-c"]


def test_zones_for_a_type_offered_nowhere_names_cloud_type(gcp_provider: GcpProvider) -> None:
    with pytest.raises(ProviderError, match="CLOUD_TYPE: machine type a9-mega-1 is not offered"):
        gcp_provider.zones("a9-mega-1")


def test_read_calls_retry_5xx(fake_gcp: FakeGcp, gcp_provider: GcpProvider) -> None:
    fake_gcp.fail("machineTypes.aggregatedList", 503, times=2)

    assert gcp_provider.zones("n1-standard-4") == ["us-west1-a", "us-west1-b", "us-west1-c"]


# ---- built from the variables -----------------------------------------------------------------------------------


def test_built_from_variables_with_test_endpoint_works_end_to_end(fake_gcp: FakeGcp, gcp_env: dict[str, str],
                                                      gcp_spec: Spec) -> None:  # fmt: skip
    provider = provider_from_env("gcp", "us-west1-b", gcp_env)  # a CML-style zone as region is accepted

    image = provider.resolve_image("", gpu=False)
    instance = provider.launch(gcp_spec(image=image), provider.zones("e2-standard-8")[0], spot=False)
    assert provider.region == "us-west1" and instance.zone == "us-west1-a"
    provider.terminate(instance)
    assert fake_gcp.instances() == []


def test_built_from_variables_without_credentials_names_the_variables() -> None:
    with pytest.raises(ProviderError) as caught:
        provider_from_env("gcp", "us-west1", {"GCP_PROJECT": "my-project"})
    message = str(caught.value)
    assert "\n" not in message
    for variable in ("GCP_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "GCP_WORKLOAD_IDENTITY_PROVIDER",
                     "oidc: true"):  # fmt: skip
        assert variable in message


def test_built_from_variables_test_endpoint_still_needs_a_project(fake_gcp: FakeGcp) -> None:
    with pytest.raises(ProviderError, match="GCP_PROJECT"):
        provider_from_env("gcp", "us-west1", {"GCP_COMPUTE_ENDPOINT": fake_gcp.url})


# ---- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("", [])),
        ("runner@p-1.iam.gserviceaccount.com", ("runner@p-1.iam.gserviceaccount.com",
                                                ["https://www.googleapis.com/auth/cloud-platform"])),
        ("scopes=storage-rw", ("default", ["https://www.googleapis.com/auth/devstorage.read_write"])),
        ("a@b.iam.gserviceaccount.com,scopes=https://www.googleapis.com/auth/bigquery",
         ("a@b.iam.gserviceaccount.com", ["https://www.googleapis.com/auth/bigquery"])),
    ],
)  # fmt: skip
def test_parse_permission_set(text: str, expected: tuple[str, list[str]]) -> None:
    from pipe.providers.gcp.request import parse_permission_set

    assert parse_permission_set(text) == expected


@pytest.mark.parametrize("text", ["arn:aws:iam::1:instance-profile/x", "a@b.iam.gserviceaccount.com,scopes=root"])
def test_bad_permission_set_is_explained(text: str) -> None:
    from pipe.providers.gcp.request import parse_permission_set

    with pytest.raises(ProviderError, match="CLOUD_PERMISSION_SET"):
        parse_permission_set(text)


def test_our_labels_win_collisions_and_sanitising_is_idempotent() -> None:
    from pipe.providers.gcp.request import sanitise_labels

    labels = sanitise_labels({"CML-Managed-By": "someone", TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, "Env": "Prod/EU"})

    assert labels == {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, "env": "prod_eu"}
    assert sanitise_labels(labels) == labels

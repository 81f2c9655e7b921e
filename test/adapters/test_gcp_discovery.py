"""The local GCP server is held to Google's discovery document for compute v1, and the SDK stays lazy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from fakes.gcp import ROUTES, FakeGcp, discovery, discovery_method, parse_filter, validate

from pipe.providers.base import InstanceSpec

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("http_method", "path", "method_id"), ROUTES)
def test_every_route_the_fake_serves_exists_in_the_discovery_document(
    http_method: str, path: str, method_id: str
) -> None:
    method = discovery_method(method_id)

    assert method is not None, f"{method_id} is not in compute.v1.json"
    assert method["httpMethod"] == http_method
    assert method.get("flatPath", method["path"]) == path
    assert discovery()["servicePath"] == "compute/v1/"


def test_route_check_would_catch_a_made_up_route() -> None:
    assert discovery_method("compute.instances.teleport") is None
    assert discovery_method("compute.instances.get")["httpMethod"] != "POST"  # type: ignore[index]


def test_validator_flags_made_up_fields_wrong_types_and_enums() -> None:
    good = {
        "name": "cml-x",
        "machineType": "zones/us-west1-b/machineTypes/e2-small",
        "scheduling": {"provisioningModel": "SPOT", "maxRunDuration": {"seconds": "3600"}},
        "disks": [{"boot": True, "initializeParams": {"diskSizeGb": "35"}}],
        "labels": {"a": "b"},
        "metadata": {"items": [{"key": "startup-script", "value": "#!/bin/sh"}]},
    }
    assert validate("Instance", good, method_id="compute.instances.insert") == []

    bad = {
        "name": "cml-x",
        "machineType": "zones/us-west1-b/machineTypes/e2-small",
        "spotPrice": 0.2,  # made up
        "scheduling": {"provisioningModel": "CHEAP", "automaticRestart": "no"},
        "disks": [{"boot": True, "initializeParams": {"diskSizeGb": "lots", "bootMode": 1}}],
        "labels": {"a": 1},
        "metadata": {"items": [{"key": "startup script", "value": "x"}]},
    }
    errors = validate("Instance", bad, method_id="compute.instances.insert")

    assert any("unknown field 'spotPrice'" in e for e in errors)
    assert any("'CHEAP' is not one of" in e for e in errors)
    assert any("automaticRestart: expected a boolean" in e for e in errors)
    assert any("diskSizeGb: expected an int64" in e for e in errors)
    assert any("unknown field 'bootMode'" in e for e in errors)
    assert any("labels['a']: expected a string" in e for e in errors)
    assert any("does not match" in e for e in errors)
    assert validate("Instance", {}, method_id="compute.instances.insert") != []  # name is required for insert


def test_the_fake_rejects_a_made_up_field_like_the_api(fake_gcp: FakeGcp) -> None:
    import requests

    response = requests.post(
        f"{fake_gcp.url}/compute/v1/projects/{fake_gcp.project}/zones/us-west1-b/instances",
        json={"name": "cml-x", "machineType": "zones/us-west1-b/machineTypes/e2-small", "bidPrice": "0.1"},
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "invalid"
    assert "bidPrice" in response.json()["error"]["message"]
    assert fake_gcp.instances() == []
    unknown = requests.get(f"{fake_gcp.url}/compute/v1/projects/{fake_gcp.project}/zones/us-west1-b/teleport",
                           timeout=5)  # fmt: skip
    assert unknown.status_code == 404


def test_every_request_the_adapter_sends_validates(
    fake_gcp: FakeGcp, gcp_spec: Callable[..., InstanceSpec]
) -> None:
    from pipe.providers.gcp.lifecycle import GcpProvider

    provider = GcpProvider("us-west1", project=fake_gcp.project, endpoint=fake_gcp.url, poll_interval_s=0,
                           retry_backoff_s=0, network="ml-vpc", subnetwork="runners", external_ip=True)  # fmt: skip
    spec = gcp_spec(instance_type="n1-standard-4", accelerator="nvidia-tesla-t4", accelerator_count=2,
                    max_lifetime_s=600, permission_set="runner@p-123456.iam.gserviceaccount.com",
                    image=provider.resolve_image("", gpu=True))  # fmt: skip
    spec = replace(spec, disk_gb=provider.image_disk_gb(spec.image) or spec.disk_gb)
    zone = provider.zones(spec.instance_type)[0]
    instance = provider.launch(spec, zone, spot=True)
    provider.list_ours("acme_ml-repo")
    provider.terminate(instance)

    served = {r.method_id for r in fake_gcp.requests}
    assert served >= {"compute.instances.insert", "compute.zoneOperations.wait", "compute.instances.delete",
                      "compute.instances.aggregatedList", "compute.machineTypes.aggregatedList",
                      "compute.images.getFromFamily", "compute.instances.get", "compute.firewalls.insert",
                      "compute.globalOperations.wait"}  # fmt: skip
    # Only the look-up of our firewall rule before the run created it answers 404.
    assert [(r.method_id, r.status) for r in fake_gcp.requests if r.status != 200] == [("compute.firewalls.get", 404)]
    assert fake_gcp.validation_errors == []
    for record in fake_gcp.calls("compute.instances.insert"):
        assert validate("Instance", record.body, method_id="compute.instances.insert") == []


def test_filter_parser_accepts_what_the_adapter_sends_and_rejects_nonsense() -> None:
    assert parse_filter('(labels.cml-managed-by = "cml-runner-pipe") (labels.cml-repository = "a_b")') == [
        ("labels.cml-managed-by", "=", "cml-runner-pipe"),
        ("labels.cml-repository", "=", "a_b"),
    ]
    assert parse_filter('name = "n1-standard-4"') == [("name", "=", "n1-standard-4")]
    with pytest.raises(Exception, match="Invalid list filter"):
        parse_filter("labels.x ~ y")


def test_operations_go_pending_running_done(fake_gcp: FakeGcp) -> None:
    import requests

    base = f"{fake_gcp.url}/compute/v1/projects/{fake_gcp.project}/zones/us-west1-b"
    body = {
        "name": "cml-op",
        "machineType": "zones/us-west1-b/machineTypes/e2-small",
        "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
            "sourceImage": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"}}],
    }  # fmt: skip
    op = requests.post(f"{base}/instances", json=body, timeout=5).json()
    statuses = [op["status"]]
    while statuses[-1] != "DONE":
        statuses.append(requests.get(f"{base}/operations/{op['name']}", timeout=5).json()["status"])

    assert statuses == ["PENDING", "RUNNING", "DONE"]
    assert op["id"].isdigit() and op["targetId"].isdigit()
    assert fake_gcp.instances()[0]["status"] == "RUNNING"


def test_sdk_is_imported_lazily() -> None:
    """Importing the cloud-neutral modules (and the GCP package, its credentials and network decisions) imports no
    google.* package."""
    modules = ["pipe.providers.base", "pipe.providers.catalog", "pipe.providers.tags", "pipe.providers",
               "pipe.providers.gcp", "pipe.providers.gcp.credentials", "pipe.providers.gcp.network"]  # fmt: skip
    code = (
        "import importlib, importlib.util, sys\n"
        f"for name in {modules!r}:\n"
        "    if importlib.util.find_spec(name) is not None:\n"
        "        importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'google' or m.startswith('google.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"

"""The Azure adapter through the real SDK, over HTTPS, against the local Azure server."""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from typing import Any

import pytest
from azure.mgmt.compute import models as cm
from azure.mgmt.network import models as nm
from cloud_options import provider_from_env
from fakes.azure import FakeAzure
from fixtures_azure import AZURE_REGION, AZURE_TEST_CLIENT_KWARGS

from pipe.providers.azure.lifecycle import AzureProvider
from pipe.providers.azure.request import DEFAULT_GPU_IMAGE, DEFAULT_IMAGE
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

VM = "Microsoft.Compute/virtualMachines"
NIC = "Microsoft.Network/networkInterfaces"
NSG = "Microsoft.Network/networkSecurityGroups"
VNET = "Microsoft.Network/virtualNetworks"
PIP = "Microsoft.Network/publicIPAddresses"
USER_DATA = "#!/bin/bash\necho 'runner secret: s3cr3t'\n"
TAGS = {
    TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY: "team/repo",
    TAG_RUNNER_UUID: "{b6a3c3e2-0000-4000-8000-000000000001}",
    "project": "demo",
}


def spec(name: str = "cml-abcdef1234", **changes: object) -> InstanceSpec:
    base = InstanceSpec(
        name=name,
        region=AZURE_REGION,
        instance_type="Standard_F8s_v2",
        image=DEFAULT_IMAGE,
        disk_gb=35,
        user_data=USER_DATA,
        tags=dict(TAGS),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def vm_doc(fake: FakeAzure, group: str, name: str) -> cm.VirtualMachine:
    return cm.VirtualMachine(fake.resource(group, VM, name))


def test_launch_creates_one_group_holding_vm_nic_nsg_vnet_ip(
    azure_fake: FakeAzure, azure_provider: AzureProvider
) -> None:
    identity = azure_fake.add_identity("identities", "trainer")
    instance = azure_provider.launch(spec(spot_price=0.25, permission_set=identity), "", spot=True)

    assert azure_fake.groups() == ["cml-abcdef1234"]
    assert azure_fake.group_tags("cml-abcdef1234") == TAGS
    assert azure_fake.resources("cml-abcdef1234") == [
        (VM, "cml-abcdef1234"),
        (NIC, "cml-abcdef1234-nic"),
        (NSG, "cml-abcdef1234-nsg"),
        (PIP, "cml-abcdef1234-ip"),
        (VNET, "cml-abcdef1234-vnet"),
    ]
    for type_, name in azure_fake.resources("cml-abcdef1234"):
        assert azure_fake.resource("cml-abcdef1234", type_, name)["tags"] == TAGS, type_

    vm = vm_doc(azure_fake, "cml-abcdef1234", "cml-abcdef1234")
    assert vm.location == AZURE_REGION
    assert vm.zones is None
    assert vm.hardware_profile and vm.hardware_profile.vm_size == "Standard_F8s_v2"
    assert (vm.priority, vm.eviction_policy) == ("Spot", "Delete")
    assert vm.billing_profile and vm.billing_profile.max_price == 0.25
    assert vm.storage_profile and vm.storage_profile.os_disk and vm.storage_profile.image_reference
    assert vm.storage_profile.os_disk.disk_size_gb == 35
    assert vm.storage_profile.os_disk.delete_option == "Delete"
    image = vm.storage_profile.image_reference
    assert (image.publisher, image.offer, image.sku, image.version) == (
        "Canonical",
        "ubuntu-24_04-lts",
        "server",
        "latest",
    )
    assert vm.identity and vm.identity.type == "UserAssigned"
    assert list(vm.identity.user_assigned_identities or {}) == [identity]
    assert vm.os_profile and vm.os_profile.linux_configuration
    assert vm.os_profile.custom_data is None  # write-only: GET never returns it
    assert base64.b64decode(azure_fake.custom_data("cml-abcdef1234", "cml-abcdef1234")).decode() == USER_DATA
    linux = vm.os_profile.linux_configuration
    assert linux.disable_password_authentication is True
    keys = linux.ssh.public_keys if linux.ssh else None
    assert keys and keys[0].key_data and keys[0].key_data.startswith("ssh-rsa ")
    assert vm.os_profile.admin_password is None
    nics = vm.network_profile.network_interfaces if vm.network_profile else None
    assert nics and nics[0].delete_option == "Delete"

    nsg = nm.NetworkSecurityGroup(azure_fake.resource("cml-abcdef1234", NSG, "cml-abcdef1234-nsg"))
    assert not nsg.security_rules  # only Azure's defaults: no inbound from the internet
    nic = nm.NetworkInterface(azure_fake.resource("cml-abcdef1234", NIC, "cml-abcdef1234-nic"))
    assert nic.network_security_group and nic.network_security_group.id == nsg.id
    ip = nm.PublicIPAddress(azure_fake.resource("cml-abcdef1234", PIP, "cml-abcdef1234-ip"))
    assert ip.sku and ip.sku.name == "Standard"

    assert instance == Instance(
        cloud="azure",
        id="cml-abcdef1234",
        name="cml-abcdef1234",
        region=AZURE_REGION,
        zone="",
        instance_type="Standard_F8s_v2",
        spot=True,
        state="running",
        tags=TAGS,
    )
    assert azure_fake.sign_ins == ["client_secret"]  # one sign-in, token reused


def test_on_demand_in_a_zone_without_public_ip(azure_fake: FakeAzure) -> None:
    provider = provider_from_env(
        "azure", AZURE_REGION, {**azure_fake.env(), "AZURE_PUBLIC_IP": "false"}, **AZURE_TEST_CLIENT_KWARGS
    )
    instance = provider.launch(spec(name="runner1"), "2", spot=False)

    assert azure_fake.groups() == ["cml-runner1"]  # the prefix is added when the name lacks it
    assert PIP not in {t for t, _ in azure_fake.resources("cml-runner1")}
    vm = vm_doc(azure_fake, "cml-runner1", "runner1")
    assert vm.zones == ["2"]
    assert (vm.priority, vm.eviction_policy, vm.billing_profile) == ("Regular", None, None)
    vnet = nm.VirtualNetwork(azure_fake.resource("cml-runner1", VNET, "runner1-vnet"))
    assert vnet.subnets and vnet.subnets[0].default_outbound_access is True
    assert (instance.id, instance.name, instance.zone, instance.spot) == ("cml-runner1", "runner1", "2", False)


def test_spot_without_price_bids_up_to_on_demand(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    azure_provider.launch(spec(), "", spot=True)
    vm = vm_doc(azure_fake, "cml-abcdef1234", "cml-abcdef1234")
    assert vm.billing_profile and vm.billing_profile.max_price == -1


@pytest.mark.parametrize(
    ("code", "lro"),
    [
        ("AllocationFailed", True),
        ("ZonalAllocationFailed", True),
        ("OverconstrainedAllocationRequest", True),
        ("SkuNotAvailable", False),
    ],
)
def test_capacity_error_leaves_no_group(
    azure_fake: FakeAzure, azure_provider: AzureProvider, code: str, lro: bool
) -> None:
    azure_fake.fail_vm_create(code, lro=lro)
    with pytest.raises(CapacityError, match=code):
        azure_provider.launch(spec(), "1", spot=True)
    assert azure_fake.groups() == []
    # The next attempt (another zone, or on-demand) starts clean and succeeds.
    assert azure_provider.launch(spec(), "2", spot=False).zone == "2"


def test_spot_quota_is_a_capacity_error_but_on_demand_quota_is_not(
    azure_fake: FakeAzure, azure_provider: AzureProvider
) -> None:
    quota = "Operation could not be completed as it results in exceeding approved LowPriorityCores quota."
    azure_fake.fail("PUT", r"/virtualMachines/", status=409, code="OperationNotAllowed", message=quota)
    with pytest.raises(CapacityError, match="quota"):
        azure_provider.launch(spec(), "", spot=True)
    azure_fake.fail("PUT", r"/virtualMachines/", status=409, code="OperationNotAllowed", message=quota)
    with pytest.raises(ProviderError, match="request a quota increase") as err:
        azure_provider.launch(spec(), "", spot=False)
    assert not isinstance(err.value, CapacityError)
    assert azure_fake.groups() == []


def test_authorization_failure_names_the_role(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    azure_fake.fail(
        "PUT",
        r"/resourcegroups/[^/]+$",
        status=403,
        code="AuthorizationFailed",
        message="The client does not have authorization to perform action 'Microsoft.Resources/subscriptions/"
        "resourcegroups/write'.",
    )
    with pytest.raises(ProviderError) as err:
        azure_provider.launch(spec(), "", spot=False)
    assert not isinstance(err.value, CapacityError)
    assert "Contributor" in str(err.value) and "AZURE_CLIENT_ID" in str(err.value)
    assert azure_fake.groups() == []


@pytest.mark.parametrize(
    ("target", "variable"),
    [
        ("vmSize", "CLOUD_TYPE"),
        ("imageReference", "CLOUD_IMAGE"),
        ("billingProfile.maxPrice", "CLOUD_SPOT_PRICE"),
        ("osDisk.diskSizeGB", "CLOUD_HDD_SIZE"),
    ],
)
def test_invalid_parameter_names_the_variable(
    azure_fake: FakeAzure, azure_provider: AzureProvider, target: str, variable: str
) -> None:
    azure_fake.fail("PUT", r"/virtualMachines/", status=400, code="InvalidParameter", message="bad", target=target)
    with pytest.raises(ProviderError, match=f"check {variable}") as err:
        azure_provider.launch(spec(), "", spot=True)
    assert not isinstance(err.value, CapacityError)
    assert "\n" not in str(err.value)
    assert azure_fake.groups() == []


def test_the_server_validates_like_azure(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    with pytest.raises(ProviderError, match="check CLOUD_TYPE"):
        azure_provider.launch(spec(instance_type=""), "", spot=False)
    assert azure_fake.groups() == []


def test_failed_operation_and_transient_errors(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    azure_fake.async_polls = 2
    azure_fake.fail("PUT", r"/networkInterfaces/", status=200, code="InternalServerError", message="boom", lro=True)
    with pytest.raises(ProviderError, match="InternalServerError"):
        azure_provider.launch(spec(), "", spot=False)
    assert azure_fake.groups() == []

    azure_fake.fail("PUT", r"/virtualNetworks/", status=500, code="InternalServerError", message="try again")
    azure_fake.fail("GET", r"/operations/", status=429, code="TooManyRequests", message="slow down", retry_after="0")
    instance = azure_provider.launch(spec(), "", spot=False)  # the SDK retries both
    assert instance.state == "running"
    polls = [r for r in azure_fake.requests if "/operations/" in r.path]
    assert polls and all(r.query.get("api-version") for r in azure_fake.requests if r.path.startswith("/subscriptions"))


def test_list_ours_reports_states_and_orphans_and_skips_others(
    azure_fake: FakeAzure, azure_provider: AzureProvider
) -> None:
    azure_provider.launch(spec(name="cml-running"), "", spot=True)
    azure_provider.launch(spec(name="cml-stopped"), "3", spot=False)
    azure_fake.set_power_state("cml-stopped", "cml-stopped", "deallocated")
    azure_provider.launch(spec(name="cml-other", tags={**TAGS, TAG_REPOSITORY: "team/other"}), "", spot=False)
    azure_fake.seed_group("cml-orphan", dict(TAGS))  # an interrupted launch: group, no VM
    azure_fake.seed_group("someone-elses", {"owner": "me"})
    azure_fake.page_size = 2  # the group listing is paged; nextLink points back at the server

    ours = {i.id: i for i in azure_provider.list_ours("team/repo")}
    assert set(ours) == {"cml-running", "cml-stopped", "cml-orphan"}
    assert (ours["cml-running"].state, ours["cml-running"].spot) == ("running", True)
    assert (ours["cml-stopped"].state, ours["cml-stopped"].zone) == ("stopped", "3")
    assert ours["cml-orphan"].state == "stopped"
    assert ours["cml-running"].runner_uuid == TAGS[TAG_RUNNER_UUID]
    assert {i.id for i in azure_provider.list_ours()} == {"cml-running", "cml-stopped", "cml-orphan", "cml-other"}

    for instance in ours.values():
        azure_provider.terminate(instance)
    assert azure_fake.groups() == ["cml-other", "someone-elses"]
    azure_provider.terminate(ours["cml-running"])  # already gone: not an error


def test_terminate_refuses_a_group_without_our_tag(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    azure_fake.seed_group("cml-lookalike", {"owner": "me"})
    stranger = Instance("azure", "cml-lookalike", "cml-lookalike", AZURE_REGION, "", "", False, "running")
    with pytest.raises(ProviderError, match="not deleting"):
        azure_provider.terminate(stranger)
    assert azure_fake.groups() == ["cml-lookalike"]


def test_long_running_operations_are_polled(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    azure_fake.async_polls = 3
    instance = azure_provider.launch(spec(), "", spot=False)
    assert instance.state == "running"
    assert sum("/operations/" in r.path for r in azure_fake.requests) == 5 * 3  # NSG, VNet, IP, NIC, VM
    azure_provider.terminate(instance)
    assert azure_fake.groups() == []
    assert sum("/operationResults/" in r.path for r in azure_fake.requests) == 3


def test_zones_and_images(azure_provider: AzureProvider) -> None:
    assert azure_provider.zones("Standard_F8s_v2") == [""]
    assert azure_provider.resolve_image("", gpu=False) == DEFAULT_IMAGE
    assert azure_provider.resolve_image("", gpu=True) == DEFAULT_GPU_IMAGE
    assert azure_provider.resolve_image("Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest", gpu=False)
    with pytest.raises(ProviderError, match="publisher:offer:sku:version"):
        azure_provider.resolve_image("ubuntu-os-cloud/ubuntu-2204-lts", gpu=False)


def test_bad_permission_set_is_refused_before_any_call(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    with pytest.raises(ProviderError, match="CLOUD_PERMISSION_SET"):
        azure_provider.launch(spec(permission_set="arn:aws:iam::1:instance-profile/x"), "", spot=False)
    assert azure_fake.requests == []


def test_unknown_identity_names_the_variable(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    missing = (
        f"/subscriptions/{azure_fake.subscription_id}/resourceGroups/ids/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/nope"
    )
    with pytest.raises(ProviderError, match="CLOUD_PERMISSION_SET"):
        azure_provider.launch(spec(permission_set=missing), "", spot=False)
    assert azure_fake.groups() == []


def test_gzip_user_data_and_the_vm_stand_in_hook(azure_fake: FakeAzure, azure_provider: AzureProvider) -> None:
    import gzip
    import threading

    booted: list[tuple[str, str, str]] = []
    done = threading.Event()

    def boot(group: str, vm: str, user_data: str) -> None:
        booted.append((group, vm, user_data))
        done.set()

    azure_provider.launch(spec(), "", spot=False)
    azure_fake.on_vm_created = boot
    zipped = gzip.compress(USER_DATA.encode())
    azure_provider.launch(spec(name="cml-zipped", user_data=zipped), "", spot=False)
    assert base64.b64decode(azure_fake.custom_data("cml-zipped", "cml-zipped")) == zipped
    assert done.wait(10)
    assert booted == [("cml-zipped", "cml-zipped", USER_DATA)]


def test_long_operations_report_progress_while_waiting(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A VM create takes minutes: finish says what it waits for at a steady cadence, then returns the result."""
    from pipe.providers.azure import polling as azure_module
    from pipe.providers.azure.polling import PROGRESS_EVERY_S, finish

    clock = [0.0]

    class SlowPoller:  # done after 50 s, like a VM create
        def done(self) -> bool:
            return clock[0] >= 50

        def wait(self, timeout: float) -> None:
            clock[0] += min(timeout, 50 - clock[0])

        def status(self) -> str:
            return "InProgress"

        def result(self) -> str:
            return "the VM"

    original = azure_module.Progress
    monkeypatch.setattr(azure_module, "Progress", lambda what: original(what, now=lambda: clock[0]))
    caplog.set_level(logging.INFO)

    assert finish(SlowPoller(), "Azure to create VM cml-x") == "the VM"  # type: ignore[arg-type]

    lines = [r.getMessage() for r in caplog.records if "Azure to create VM cml-x" in r.getMessage()]
    assert len(lines) == int(50 // PROGRESS_EVERY_S)
    assert lines[0] == "Waiting for Azure to create VM cml-x: 15s elapsed, status InProgress."


def test_list_ours_without_state_costs_one_call_whatever_the_number_of_groups(
    azure_fake: FakeAzure, azure_provider: AzureProvider
) -> None:
    for n in range(6):
        azure_fake.seed_group(f"cml-group{n}", {**TAGS, TAG_RUNNER_UUID: f"r{n}"})
    def arm_calls() -> list[Any]:
        return [r for r in azure_fake.requests if r.path.startswith("/subscriptions")]

    calls = len(arm_calls())
    found = azure_provider.list_ours("team/repo", with_state=False)
    assert sorted(i.runner_uuid for i in found) == [f"r{n}" for n in range(6)]
    assert {i.state for i in found} == {"unknown"}
    assert len(arm_calls()) - calls == 1  # the group listing: no per-group VM listing
    calls = len(arm_calls())
    azure_provider.terminate_many(found, wait=False)
    sent = arm_calls()[calls:]
    # Each group: read (is it ours?) and delete; no polling of the long-running deletes.
    assert sorted(r.method for r in sent) == ["DELETE"] * 6 + ["GET"] * 6
    assert not any("/operations/" in r.path for r in sent)

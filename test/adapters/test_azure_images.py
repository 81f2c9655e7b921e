"""The Azure adapter's managed images (COMMAND: bake) through the real SDK against the local Azure, and the
capture rules the local Azure keeps (fakes/azure/images.py): what Azure refuses, it refuses here too."""

from __future__ import annotations

import dataclasses

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as cm
from fakes.azure import FakeAzure
from fixtures_azure import AZURE_REGION
from test_azure_adapter import spec

from pipe.providers.azure.lifecycle import AzureProvider
from pipe.providers.base import (
    ROLE_BAKED_IMAGE,
    TAG_BAKE_ID,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_REPOSITORY,
    TAG_ROLE,
    Instance,
    MachineImage,
    ProviderError,
)

REPO = "11111111-2222-3333-4444-555555555555"
IMAGE_TAGS = {TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE, TAG_REPOSITORY: REPO, TAG_ROLE: ROLE_BAKED_IMAGE,
              TAG_BAKE_ID: "bake-1"}  # fmt: skip


def stopped_vm(provider: AzureProvider, fake: FakeAzure, name: str = "cml-bake-test1") -> Instance:
    """A VM whose guest powered itself off: stopped, still allocated."""
    instance = provider.launch(dataclasses.replace(spec(name), stop_on_shutdown=True), "", False)  # the bake's VM
    fake.set_power_state(instance.id, instance.name, "stopped")
    return instance


def source_of(provider: AzureProvider, instance: Instance) -> str:
    return (
        f"/subscriptions/{provider.subscription_id}/resourceGroups/{instance.id}/providers/Microsoft.Compute/"
        f"virtualMachines/{instance.name}"
    )


def test_create_image_deallocates_generalizes_and_captures_into_a_group_of_its_own(
    azure_provider: AzureProvider, azure_fake: FakeAzure
) -> None:
    instance = stopped_vm(azure_provider, azure_fake)
    started = azure_provider.create_image(instance, "cml-baked-0123456789ab-1790000000", IMAGE_TAGS)
    assert azure_fake.power_state(instance.id, instance.name) == "deallocated"
    assert azure_fake.generalized(instance.id, instance.name)
    assert started.id.endswith("/resourceGroups/cml-baked-0123456789ab-1790000000/providers/Microsoft.Compute/"
                               "images/cml-baked-0123456789ab-1790000000")  # fmt: skip
    assert azure_fake.group_tags("cml-baked-0123456789ab-1790000000") == IMAGE_TAGS
    now = azure_provider.image(started.id)
    assert now is not None and now.state == "available" and now.tags == IMAGE_TAGS
    assert [i.id for i in azure_provider.images_ours(REPO)] == [started.id]
    assert azure_provider.images_ours("another-repository") == []
    # The image group is no instance of ours: the runner sweep never sees it.
    assert [i.id for i in azure_provider.list_ours(None)] == [instance.id]


def test_an_image_being_made_is_pending_and_one_azure_failed_is_failed(
    azure_provider: AzureProvider, azure_fake: FakeAzure
) -> None:
    azure_fake.hold_images = True
    instance = stopped_vm(azure_provider, azure_fake)
    started = azure_provider.create_image(instance, "cml-baked-held", IMAGE_TAGS)
    assert (now := azure_provider.image(started.id)) is not None and now.state == "pending"
    azure_fake.hold_images, azure_fake.fail_images = False, True
    instance = stopped_vm(azure_provider, azure_fake, "cml-bake-test3")
    started = azure_provider.create_image(instance, "cml-baked-failed", IMAGE_TAGS)
    assert (now := azure_provider.image(started.id)) is not None and now.state == "failed"
    azure_provider.delete_bake_leftovers(REPO, "bake-1")  # both images: they carry the bake's id
    assert azure_fake.images() == [] and azure_provider.image(started.id) is None


def test_trusted_launch_is_azures_default_and_only_the_bakes_standard_vm_can_be_captured(
    azure_provider: AzureProvider, azure_fake: FakeAzure
) -> None:
    """From VM API 2025-11-01 a Gen2 VM is Trusted Launch unless asked otherwise (the SDK sends 2026-04-01), and
    Azure makes no managed image of a Trusted Launch VM (fakes/azure/images.py). The bake's VM asks for Standard."""

    def security(instance: Instance) -> str:
        vm = azure_fake.resource(instance.id, "Microsoft.Compute/virtualMachines", instance.name)
        return str(vm["properties"]["securityProfile"]["securityType"])

    bake = stopped_vm(azure_provider, azure_fake)
    assert security(bake) == "Standard"
    runner = azure_provider.launch(spec("cml-runner09"), "", False)  # a marketplace runner keeps Azure's default
    assert security(runner) == "TrustedLaunch"
    azure_fake.set_power_state(runner.id, runner.name, "stopped")
    with pytest.raises(ProviderError, match="Creation of managed images are not supported for virtual machine "
                                            "with TrustedLaunch security type"):  # fmt: skip
        azure_provider.create_image(runner, "cml-baked-0123456789ab-1790000009", IMAGE_TAGS)
    azure_provider.create_image(bake, "cml-baked-0123456789ab-1790000000", IMAGE_TAGS)


def test_azure_refuses_to_generalize_a_running_vm(azure_provider: AzureProvider, azure_fake: FakeAzure) -> None:
    instance = azure_provider.launch(spec("cml-bake-test2"), "", False)
    with pytest.raises(HttpResponseError) as refused:
        azure_provider._compute.virtual_machines.generalize(instance.id, instance.name)
    assert refused.value.error is not None and refused.value.error.code == "OperationNotAllowed"
    assert "is not allowed on VM 'cml-bake-test2' since the VM is running" in str(refused.value)


def test_azure_refuses_an_image_of_a_vm_that_is_not_generalized(
    azure_provider: AzureProvider, azure_fake: FakeAzure
) -> None:
    instance = stopped_vm(azure_provider, azure_fake)
    azure_provider._resources.resource_groups.create_or_update("cml-images", {"location": AZURE_REGION})
    image = cm.Image(location=AZURE_REGION, properties=cm.ImageProperties(
        source_virtual_machine=cm.SubResource(id=source_of(azure_provider, instance))))  # fmt: skip
    with pytest.raises(HttpResponseError) as refused:
        azure_provider._compute.images.begin_create_or_update("cml-images", "img", image).result()
    assert "requires the Virtual Machine 'cml-bake-test1' to be Generalized" in str(refused.value)


@pytest.mark.parametrize("name", ["-starts-with-hyphen", "ends-with-period.", "x" * 81])
def test_azure_refuses_an_image_name_outside_its_rules(
    azure_provider: AzureProvider, azure_fake: FakeAzure, name: str
) -> None:
    azure_fake.seed_group("cml-images", {})
    os_disk = cm.ImageOSDisk(os_type="Linux", os_state="Generalized")
    image = cm.Image(
        location=AZURE_REGION, properties=cm.ImageProperties(storage_profile=cm.ImageStorageProfile(os_disk=os_disk))
    )
    with pytest.raises(HttpResponseError, match="InvalidResourceName"):
        azure_provider._compute.images.begin_create_or_update("cml-images", name, image).result()


def test_delete_image_deletes_only_an_image_group_of_ours_for_the_images_repository(
    azure_provider: AzureProvider, azure_fake: FakeAzure
) -> None:
    mine = azure_fake.seed_image("cml-baked-mine", "cml-baked-mine", IMAGE_TAGS)
    theirs = azure_fake.seed_image("team-images", "cml-baked-x", IMAGE_TAGS, group_tags={"team": "ml"})
    azure_provider.delete_image(MachineImage("azure", mine, "cml-baked-mine", "available", dict(IMAGE_TAGS)))
    with pytest.raises(ProviderError, match="not tagged as a baked image of this repository's; not deleting it"):
        azure_provider.delete_image(MachineImage("azure", theirs, "cml-baked-x", "available", dict(IMAGE_TAGS)))
    assert azure_fake.groups() == ["team-images"]
    azure_provider.delete_image(MachineImage("azure", mine, "cml-baked-mine", "available", dict(IMAGE_TAGS)))  # gone


def test_a_vm_boots_a_managed_image_by_id_only_once_it_is_made(
    azure_provider: AzureProvider, azure_fake: FakeAzure
) -> None:
    made = azure_fake.seed_image("cml-baked-a", "cml-baked-a", IMAGE_TAGS)
    creating = azure_fake.seed_image("cml-baked-b", "cml-baked-b", IMAGE_TAGS, state="Creating")
    instance = azure_provider.launch(spec("cml-runner01", image=made), "", False)
    vm = cm.VirtualMachine(azure_fake.resource(instance.id, "Microsoft.Compute/virtualMachines", instance.name))
    assert vm.properties and vm.properties.storage_profile and vm.properties.storage_profile.image_reference
    assert vm.properties.storage_profile.image_reference.id == made
    # Sent, not left to Azure's default: a managed image is no Trusted Launch source.
    [put] = [r for r in azure_fake.requests if r.method == "PUT" and r.path.endswith("/virtualMachines/cml-runner01")]
    assert put.body["properties"]["securityProfile"] == {"securityType": "Standard"}
    with pytest.raises(ProviderError, match="CLOUD_IMAGE"):
        azure_provider.launch(spec("cml-runner02", image=creating), "", False)
    with pytest.raises(ProviderError, match="CLOUD_IMAGE: 'Canonical:ubuntu' is not valid"):
        azure_provider.launch(spec("cml-runner03", image="Canonical:ubuntu"), "", False)


def test_an_image_a_vm_is_being_provisioned_from_is_not_deleted_and_delete_image_says_why(
    azure_provider: AzureProvider, azure_fake: FakeAzure
) -> None:
    """Azure's OperationNotAllowedOnVMImageAsVMsBeingProvisioned: the image (and its group) stay for the next sweep."""
    image = azure_fake.seed_image("cml-baked-old", "cml-baked-old", IMAGE_TAGS)
    azure_provider.launch(spec("cml-runner04", image=image), "", False)
    # A second VM from the same image, still being provisioned (its operation never ends here).
    body = azure_fake.resource("cml-runner04", "Microsoft.Compute/virtualMachines", "cml-runner04")
    body["properties"].pop("provisioningState")
    azure_fake.seed_group("cml-runner05", {})
    azure_fake.async_polls = 100
    azure_provider._compute.virtual_machines.begin_create_or_update("cml-runner05", "cml-runner05", body, polling=False)
    with pytest.raises(ProviderError, match="OperationNotAllowedOnVMImageAsVMsBeingProvisioned"):
        azure_provider.delete_image(MachineImage("azure", image, "cml-baked-old", "available", dict(IMAGE_TAGS)))
    assert [name for _, name, _, _ in azure_fake.images()] == ["cml-baked-old"]

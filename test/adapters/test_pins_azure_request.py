"""Azure's requests (pipe/providers/azure/request.py) at the edges a mutation run (issue #20) probes: the custom
data limit at its last allowed byte, the public IP on the NIC, the throwaway SSH key Azure accepts, the spot
price's precision and which invalid identity an error names. Launches go through the real SDK to the local Azure,
which enforces Azure's own limits (test/support/fakes/azure/routes.py). Each test names the mutants it kills.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from azure.mgmt.compute import models as cm
from azure.mgmt.network import models as nm
from cloud_options import provider_from_env
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.azure import FakeAzure
from fixtures_azure import AZURE_REGION, AZURE_TEST_CLIENT_KWARGS

from pipe.providers.azure import request
from pipe.providers.azure.lifecycle import AzureProvider
from pipe.providers.base import TAG_MANAGED_BY, TAG_MANAGED_BY_VALUE, InstanceSpec, ProviderError

NIC = "Microsoft.Network/networkInterfaces"
PIP = "Microsoft.Network/publicIPAddresses"
VM = "Microsoft.Compute/virtualMachines"


def spec(name: str = "cml-abcdef1234", **changes: object) -> InstanceSpec:
    base = InstanceSpec(
        name=name,
        region=AZURE_REGION,
        instance_type="Standard_F8s_v2",
        image=request.DEFAULT_IMAGE,
        disk_gb=35,
        user_data="#!/bin/bash\necho runner\n",
        tags={TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def script_of(size: int) -> str:
    head = "#!/bin/bash\n"
    return head + "#" * (size - len(head))


def test_a_startup_script_of_exactly_65535_bytes_boots_and_one_byte_more_is_refused_before_anything_is_created(
    azure_fake: FakeAzure, azure_provider: AzureProvider
) -> None:
    """Azure takes at most 65535 bytes of custom data (87380 base64 characters). Kills the limit
    CUSTOM_DATA_MAX_BYTES moved to 65534 or `>` turned into `>=` (a script at the limit refused), and the limit
    moved to 65536 (one byte more sent, refused by Azure only after the group, network and NIC were created)."""
    azure_provider.launch(spec(user_data=script_of(65535)), "", spot=False)
    assert azure_fake.groups() == ["cml-abcdef1234"]

    with pytest.raises(ProviderError, match=r"^The startup script is 65536 bytes; Azure custom data allows 65535$"):
        azure_provider.launch(spec(name="cml-toolong123", user_data=script_of(65536)), "", spot=False)
    assert azure_fake.groups() == ["cml-abcdef1234"]


def test_the_local_azure_refuses_custom_data_past_87380_base64_characters(
    azure_fake: FakeAzure, azure_provider: AzureProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in's rule, with the pipe's own check lifted: 65536 bytes (87384 characters) are refused with
    Azure's message, and the launch leaves nothing behind."""
    monkeypatch.setattr(request, "CUSTOM_DATA_MAX_BYTES", 70000)
    with pytest.raises(ProviderError, match="maximum length of 87380 characters"):
        azure_provider.launch(spec(user_data=script_of(65536)), "", spot=False)
    assert azure_fake.groups() == []


def test_the_public_ip_is_attached_to_the_nic_and_without_one_the_nic_has_none(azure_fake: FakeAzure) -> None:
    """Kills `nm.PublicIPAddress(id=public_ip_id) if public_ip_id else None` negated: the public IP would be
    created but left off the NIC (no way out for the runner), and the NIC of a VM without one would name one."""
    with_ip = provider_from_env("azure", AZURE_REGION, azure_fake.env(), **AZURE_TEST_CLIENT_KWARGS)
    with_ip.launch(spec(), "", spot=False)
    ip = nm.PublicIPAddress(azure_fake.resource("cml-abcdef1234", PIP, "cml-abcdef1234-ip"))
    nic = nm.NetworkInterface(azure_fake.resource("cml-abcdef1234", NIC, "cml-abcdef1234-nic"))
    [config] = nic.ip_configurations or []
    assert config.public_ip_address is not None and config.public_ip_address.id == ip.id

    env = {**azure_fake.env(), "AZURE_PUBLIC_IP": "false"}
    provider_from_env("azure", AZURE_REGION, env, **AZURE_TEST_CLIENT_KWARGS).launch(
        spec(name="cml-private123"), "", spot=False
    )
    nic = nm.NetworkInterface(azure_fake.resource("cml-private123", NIC, "cml-private123-nic"))
    [config] = nic.ip_configurations or []
    assert config.public_ip_address is None


def test_the_throwaway_ssh_key_is_an_rsa_key_of_2048_bits_that_azure_accepts(
    azure_fake: FakeAzure, azure_provider: AzureProvider
) -> None:
    """Azure takes SSH-2 RSA keys of at least 2048 bits. Kills key_size 2048 turned into 2047 (the local Azure
    refuses the VM, as Azure does)."""
    azure_provider.launch(spec(), "", spot=False)
    vm = cm.VirtualMachine(azure_fake.resource("cml-abcdef1234", VM, "cml-abcdef1234"))
    linux = vm.os_profile.linux_configuration if vm.os_profile else None
    keys = linux.ssh.public_keys if linux and linux.ssh else None
    assert keys and keys[0].key_data
    key = serialization.load_ssh_public_key(keys[0].key_data.encode())
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048


@pytest.mark.parametrize(("price", "sent"), [(0.123456, 0.12346), (0.5, 0.5), (None, -1.0)])
def test_the_spot_price_is_sent_to_5_decimal_places_and_none_is_up_to_on_demand(
    price: float | None, sent: float
) -> None:
    """Azure's maxPrice is USD with up to 5 decimals (BillingProfile.maxPrice, e.g. 0.01538); -1 means up to
    the on-demand price. Kills round(..., 5) turned into 6 or 4 places."""
    checked = request.Checked.of(spec())
    vm = request.virtual_machine(spec(spot_price=price), checked, AZURE_REGION, {}, None, "nic-id", spot=True)
    assert vm.properties and vm.properties.billing_profile
    assert vm.properties.billing_profile.max_price == sent


def test_of_several_invalid_identities_the_error_names_the_first_one_written() -> None:
    """Kills `bad[0]` turned into `bad[-1]`: the one line names the first invalid id as the user wrote them."""
    valid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ok"
    with pytest.raises(ProviderError, match=r"^CLOUD_PERMISSION_SET: 'first-bad' is not valid"):
        request.permission_set_identity(f"{valid}, first-bad, second-bad")

"""What a runner's resource group holds, as Azure's own models (no client, no call): the NSG with no rule of
ours, the VNet and subnet, the public IP, the NIC and the VM, booting the startup script as custom data with a
login nobody holds (docs/providers.md, "Azure")."""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass

from azure.mgmt.compute import models as cm
from azure.mgmt.network import models as nm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pipe.providers.azure.images import is_image_id
from pipe.providers.base import InstanceSpec, ProviderError
from pipe.providers.catalog import DEFAULT_IMAGES

DEFAULT_IMAGE, DEFAULT_GPU_IMAGE = DEFAULT_IMAGES["azure"]
ADMIN_USER = "cml"
ADDRESS_SPACE = "10.0.0.0/24"
CUSTOM_DATA_MAX_BYTES = 65535  # Azure's limit on the decoded custom data

_IDENTITY_ID = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.managedidentity/userassignedidentities/[^/]+$",
    re.IGNORECASE,
)


def nsg(region: str, tags: dict[str, str]) -> nm.NetworkSecurityGroup:
    """No rule of ours: Azure's default rules deny all inbound traffic from the internet."""
    return nm.NetworkSecurityGroup(
        location=region, tags=tags, properties=nm.NetworkSecurityGroupPropertiesFormat(security_rules=[])
    )


def vnet(region: str, tags: dict[str, str], nsg_id: str | None, public_ip: bool) -> nm.VirtualNetwork:
    """A private VNet with one subnet; without a public IP the subnet asks for default outbound access."""
    subnet = nm.Subnet(
        name="default",
        properties=nm.SubnetPropertiesFormat(
            address_prefix=ADDRESS_SPACE,
            network_security_group=nm.NetworkSecurityGroup(id=nsg_id),
            default_outbound_access=not public_ip,
        ),
    )
    return nm.VirtualNetwork(
        location=region,
        tags=tags,
        properties=nm.VirtualNetworkPropertiesFormat(
            address_space=nm.AddressSpace(address_prefixes=[ADDRESS_SPACE]), subnets=[subnet]
        ),
    )


def public_ip_address(region: str, tags: dict[str, str], zones: list[str] | None) -> nm.PublicIPAddress:
    return nm.PublicIPAddress(
        location=region,
        tags=tags,
        zones=zones,
        sku=nm.PublicIPAddressSku(name="Standard"),
        properties=nm.PublicIPAddressPropertiesFormat(public_ip_allocation_method="Static"),
    )


def nic(
    region: str, tags: dict[str, str], nsg_id: str | None, subnet_id: str | None, public_ip_id: str | None
) -> nm.NetworkInterface:
    ip_configuration = nm.NetworkInterfaceIPConfiguration(
        name="ipconfig1",
        properties=nm.NetworkInterfaceIPConfigurationPropertiesFormat(
            subnet=nm.Subnet(id=subnet_id),
            private_ip_allocation_method="Dynamic",
            public_ip_address=nm.PublicIPAddress(id=public_ip_id) if public_ip_id else None,
        ),
    )
    return nm.NetworkInterface(
        location=region,
        tags=tags,
        properties=nm.NetworkInterfacePropertiesFormat(
            network_security_group=nm.NetworkSecurityGroup(id=nsg_id), ip_configurations=[ip_configuration]
        ),
    )


@dataclass(frozen=True)
class Checked:
    """What a launch can check locally, before it creates anything: the image, the identities, the custom data."""

    image: cm.ImageReference
    identity: cm.VirtualMachineIdentity | None
    custom_data: str  # base64

    @classmethod
    def of(cls, spec: InstanceSpec) -> Checked:
        return cls(parse_image(spec.image), permission_set_identity(spec.permission_set), custom_data(spec.user_data))


def virtual_machine(
    spec: InstanceSpec,
    checked: Checked,
    region: str,
    tags: dict[str, str],
    zones: list[str] | None,
    nic_id: str | None,
    spot: bool,
) -> cm.VirtualMachine:
    """OS disk and NIC deleted with the VM, Spot with eviction policy Delete, password login off."""
    name = spec.name
    ssh_key = cm.SshPublicKey(path=f"/home/{ADMIN_USER}/.ssh/authorized_keys", key_data=_throwaway_ssh_key())
    properties = cm.VirtualMachineProperties(
        hardware_profile=cm.HardwareProfile(vm_size=spec.instance_type),
        storage_profile=cm.StorageProfile(
            image_reference=checked.image,
            os_disk=cm.OSDisk(
                name=f"{name}-osdisk",
                create_option="FromImage",
                disk_size_gb=spec.disk_gb,
                delete_option="Delete",
                managed_disk=cm.ManagedDiskParameters(storage_account_type="StandardSSD_LRS"),
            ),
        ),
        os_profile=cm.OSProfile(
            computer_name=name,
            admin_username=ADMIN_USER,
            custom_data=checked.custom_data,
            linux_configuration=cm.LinuxConfiguration(
                disable_password_authentication=True,
                ssh=cm.SshConfiguration(public_keys=[ssh_key]),
            ),
        ),
        network_profile=cm.NetworkProfile(
            network_interfaces=[
                cm.NetworkInterfaceReference(
                    id=nic_id,
                    properties=cm.NetworkInterfaceReferenceProperties(primary=True, delete_option="Delete"),
                )
            ]
        ),
        security_profile=cm.SecurityProfile(security_type="Standard") if standard_security(spec, checked) else None,
        priority="Spot" if spot else "Regular",
        eviction_policy="Delete" if spot else None,
        # A bake's success is a line on its serial console (pipe/bake/flow.py): boot diagnostics, off by default
        # (MicrosoftDocs/azure-docs#33130), with Azure's managed storage account (no storageUri).
        diagnostics_profile=(
            cm.DiagnosticsProfile(boot_diagnostics=cm.BootDiagnostics(enabled=True)) if spec.stop_on_shutdown else None
        ),
        billing_profile=cm.BillingProfile(max_price=_max_price(spec.spot_price)) if spot else None,
    )
    return cm.VirtualMachine(location=region, tags=tags, zones=zones, identity=checked.identity, properties=properties)


def standard_security(spec: InstanceSpec, checked: Checked) -> bool:
    """securityType Standard for the bake's VM (its disk becomes a managed image) and for a VM booted from a
    managed image; other VMs take Azure's default. From VM API version 2025-11-01 that default is Trusted Launch
    for Gen2 images and sizes (Azure's "Trusted Launch as default" announcement, 2025-05-29), and Azure refuses
    to capture a managed image from a Trusted Launch VM: "Creation of managed images are not supported for
    virtual machine with TrustedLaunch security type" (hashicorp/packer#13189); a managed image is no Trusted
    Launch source either ("Managed image" is among the unsupported features in
    learn.microsoft.com/azure/virtual-machines/trusted-launch). Why a managed image and not a gallery image that
    supports Trusted Launch: pipe/providers/azure/images.py. A runner booted from a baked image therefore has no
    Secure Boot or vTPM, like every VM created before Trusted Launch became the default."""
    return spec.stop_on_shutdown or bool(checked.image.id)


def parse_image(image: str) -> cm.ImageReference:
    """publisher:offer:sku:version (a marketplace image), or a managed image's resource id: what runner mode
    boots when it finds a baked image of ours (pipe/bake/lookup.py)."""
    if is_image_id(image.strip()):
        return cm.ImageReference(id=image.strip())
    parts = image.split(":")
    if len(parts) != 4 or not all(p.strip() for p in parts):
        raise ProviderError(
            f"CLOUD_IMAGE: {image!r} is not valid; on Azure use publisher:offer:sku:version, e.g. {DEFAULT_IMAGE}, "
            "or a managed image's id /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/images/"
            "<name>"
        )
    publisher, offer, sku, version = (p.strip() for p in parts)
    return cm.ImageReference(publisher=publisher, offer=offer, sku=sku, version=version)


def permission_set_identity(permission_set: str) -> cm.VirtualMachineIdentity | None:
    ids = [i.strip() for i in permission_set.split(",") if i.strip()]
    if not ids:
        return None
    bad = [i for i in ids if not _IDENTITY_ID.match(i)]
    if bad:
        raise ProviderError(
            f"CLOUD_PERMISSION_SET: {bad[0]!r} is not valid; on Azure use comma-separated user-assigned identity ids "
            "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>"
        )
    return cm.VirtualMachineIdentity(
        type="UserAssigned", user_assigned_identities={i: cm.UserAssignedIdentitiesValue() for i in ids}
    )


def custom_data(user_data: str | bytes) -> str:
    """Base64 as the API wants it (the SDK sends it as given); bytes (gzip) pass as is: cloud-init unzips."""
    raw = user_data.encode() if isinstance(user_data, str) else user_data
    if len(raw) > CUSTOM_DATA_MAX_BYTES:
        raise ProviderError(f"The startup script is {len(raw)} bytes; Azure custom data allows {CUSTOM_DATA_MAX_BYTES}")
    return base64.b64encode(raw).decode("ascii")


def _max_price(spot_price: float | None) -> float:
    """-1 = pay up to the on-demand price, never evicted for price."""
    return -1.0 if spot_price is None or spot_price < 0 else round(float(spot_price), 5)


@functools.cache
def _throwaway_ssh_key() -> str:
    """An RSA public key whose private half is dropped at once: SSH login is impossible.

    One per process (RSA generation takes ~0.2 s); Azure wants at least 2048-bit RSA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode("ascii")


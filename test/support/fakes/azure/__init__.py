"""A local Azure: Azure Resource Manager and the Entra ID token endpoint on https://127.0.0.1.

No Azure emulator exists, so the real SDK (azure-identity, azure-mgmt-*) talks to
this server over real HTTPS with a certificate generated per server. Stateful:
resource groups hold VNets, NSGs, public IPs, NICs and VMs; deleting a group
deletes what it holds. Long-running operations answer with Azure-AsyncOperation
(PUT) or Location (DELETE) headers when async_polls > 0, as ARM does.

Every request body is checked against the SDK's own models (fakes.azure.schema):
an unknown field is answered 400 and recorded in `violations`, and so is any
response of ours that the SDK models would not describe.

Control API (tests): fail(...) injects faults; requests is the log; groups(),
resources(), resource(), custom_data() read state; seed_group(), add_identity(),
set_power_state() arrange it; on_vm_created(group, vm, startup script text) is called in a
thread when a VM is created, for a stand-in that plays the VM. Managed images (fakes.azure.images: the capture
rules, VM deallocate and generalize): images(), seed_image(), generalized() read and arrange them;
hold_images / fail_images keep new images Creating or end them Failed; images_made lists those created.

Run by hand: python -m fakes.azure --port 8443 (from test/support/), prints the variables to use.

Laid out as test/support/fakes/bitbucket/ is: ``schema`` (the SDK's own models: the checks every body passes),
``state`` (resource groups, faults, the request log), ``routes`` (ARM and Entra ID, one handler per route),
``images`` (managed images and the VM actions a capture needs, with Azure's rules),
``server`` (HTTPS and ``FakeAzure``, the control API), ``__main__``.

"""

from fakes.azure.server import FakeAzure
from fakes.azure.state import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULT_IMAGE_OS_DISK_GB,
    IMAGE_OS_DISK_GB,
    OIDC_TOKEN,
    SUBSCRIPTION_ID,
    TENANT_ID,
    ArmError,
    Fault,
    RequestRecord,
)

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DEFAULT_IMAGE_OS_DISK_GB",
    "IMAGE_OS_DISK_GB",
    "OIDC_TOKEN",
    "SUBSCRIPTION_ID",
    "TENANT_ID",
    "ArmError",
    "FakeAzure",
    "Fault",
    "RequestRecord",
]

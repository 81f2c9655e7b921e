"""What the local Azure knows (resource groups and what they hold, operations), its faults and request log."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.mgmt.compute import models as cm
from azure.mgmt.network import models as nm

SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000c0de"
TENANT_ID = "11111111-1111-1111-1111-111111111111"
CLIENT_ID = "22222222-2222-2222-2222-222222222222"
CLIENT_SECRET = "fake-client-secret"
OIDC_TOKEN = "fake.bitbucket.oidc-token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ARM_SCOPE = "https://management.azure.com/.default"

# (namespace, type) lowercased -> (canonical type, model describing the body)
RESOURCE_TYPES: dict[tuple[str, str], tuple[str, type]] = {
    ("microsoft.network", "virtualnetworks"): ("Microsoft.Network/virtualNetworks", nm.VirtualNetwork),
    ("microsoft.network", "networksecuritygroups"): (
        "Microsoft.Network/networkSecurityGroups",
        nm.NetworkSecurityGroup,
    ),
    ("microsoft.network", "publicipaddresses"): ("Microsoft.Network/publicIPAddresses", nm.PublicIPAddress),
    ("microsoft.network", "networkinterfaces"): ("Microsoft.Network/networkInterfaces", nm.NetworkInterface),
    ("microsoft.compute", "virtualmachines"): ("Microsoft.Compute/virtualMachines", cm.VirtualMachine),
    ("microsoft.compute", "images"): ("Microsoft.Compute/images", cm.Image),
}
VM_TYPE = "Microsoft.Compute/virtualMachines"

_DEFAULT_RULES = (  # Azure's default rules: inbound only from the VNet and the load balancer
    ("AllowVnetInBound", "Inbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", "Inbound", 65001, "Allow", "AzureLoadBalancer", "*"),
    ("DenyAllInBound", "Inbound", 65500, "Deny", "*", "*"),
    ("AllowVnetOutBound", "Outbound", 65000, "Allow", "VirtualNetwork", "VirtualNetwork"),
    ("AllowInternetOutBound", "Outbound", 65001, "Allow", "*", "Internet"),
    ("DenyAllOutBound", "Outbound", 65500, "Deny", "*", "*"),
)

_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_OPENID = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_GROUPS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups$", re.I)
_GROUP = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)$", re.I)
_PROVIDER = r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/(?P<ns>[^/]+)/(?P<type>[^/]+)"
_LIST = re.compile(_PROVIDER + "$", re.I)
_RESOURCE = re.compile(_PROVIDER + r"/(?P<name>[^/]+)$", re.I)
_INSTANCE_VIEW = re.compile(_PROVIDER + r"/(?P<name>[^/]+)/instanceview$", re.I)
_ACTION = re.compile(_PROVIDER + r"/(?P<name>[^/]+)/(?P<action>[^/]+)$", re.I)  # POST: deallocate, generalize
_OPERATION = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/"
    r"(?P<kind>operations|operationresults)/(?P<op>[^/]+)$",
    re.I,
)


# OS disk sizes of marketplace images, (publisher, offer) lowercased. Azure does not publish them in its image
# API; it refuses a smaller explicit osDisk.diskSizeGB with OperationNotAllowed (hitachienergy/epiphany#1049):
# "The specified disk size 30 GB is smaller than the size of the corresponding disk in the VM image: 32 GB. ..."
# Ubuntu server images have 30 GB OS disks; the HPC/GPU image is larger (64 GB here, for the tests).
IMAGE_OS_DISK_GB = {("canonical", "ubuntu-24_04-lts"): 30, ("microsoft-dsvm", "ubuntu-hpc"): 64}
DEFAULT_IMAGE_OS_DISK_GB = 30



class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


@dataclass
class Fault:
    method: str  # "PUT", "*" for any
    pattern: re.Pattern[str]  # searched in the request path
    status: int
    code: str
    message: str
    times: int = 1
    lro: bool = False  # accept the PUT, then end its operation Failed with code/message
    retry_after: str | None = None
    target: str | None = None
    spot: bool | None = None  # VM PUTs only: match only Spot (True) or only Regular (False) requests


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON, or the form of a token request (secrets masked)
    status: int = 0
    at: float = field(default_factory=time.time)  # arrival (time.time()), for the benchmarks


@dataclass
class _Operation:
    id: str
    polls_left: int
    on_done: Callable[[], None]
    error: dict[str, Any] | None = None
    status: str = "InProgress"


@dataclass
class _Group:
    name: str
    location: str
    tags: dict[str, str]
    state: str = "Succeeded"
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (type lower, name lower)




def _is_spot(body: Any) -> bool:
    props = body.get("properties") if isinstance(body, dict) else None
    return isinstance(props, dict) and str(props.get("priority", "")).lower() == "spot"


class _Fault(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.code)
        self.fault = fault



"""What the local hypervisor needs from each emulated cloud is the one emulated-cloud interface
(fakes/emulated.py): boot_payloads(), our running instances with the user-data the pipe gave them (as bytes,
exactly as the guest receives them), and power_off(), how the cloud ends an instance whose guest powered
itself off. FakeAws, FakeGcp and FakeAzure implement it; each cloud's rules are written beside its class
(fakes/aws.py, fakes/gcp/emulated.py, fakes/azure/emulated.py).

The names below are the old per-cloud hooks, kept for this round only (branches in flight use them):
AwsHooks(ec2) is FakeAws(ec2); GcpHooks(fake) and AzureHooks(fake) are the fake itself.
"""

from __future__ import annotations

from typing import TypeVar

from fakes.aws import FakeAws
from fakes.emulated import EmulatedCloud

CloudHooks = EmulatedCloud
AwsHooks = FakeAws
_Fake = TypeVar("_Fake", bound=EmulatedCloud)


def GcpHooks(fake: _Fake) -> _Fake:
    return fake


AzureHooks = GcpHooks

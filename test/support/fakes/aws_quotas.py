"""Service Quotas for the emulated AWS: moto 5.2 answers GetServiceQuota only for VPC quotas (its
servicequotas backend knows the `vpc` service code alone, NoSuchResource for everything else) and has no
GetAWSDefaultServiceQuota, so the fault proxy answers both for EC2's vCPU quotas itself.

As on AWS (Service Quotas API Reference, GetServiceQuota and GetAWSDefaultServiceQuota): JSON protocol with
`X-Amz-Target: ServiceQuotasV20190624.<Action>`; GetServiceQuota answers the applied value, and
NoSuchResourceException where none is applied; GetAWSDefaultServiceQuota the default; an identity without
servicequotas:Get* gets AccessDeniedException (HTTP 400). Values are configurable per test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

TARGET_PREFIX = "ServiceQuotasV20190624."
# Quota names as Service Quotas lists them for EC2 (the EC2 User Guide's quota pages).
EC2_QUOTA_NAMES = {
    "L-1216C47A": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
    "L-DB2E81BA": "Running On-Demand G and VT instances",
    "L-417A185B": "Running On-Demand P instances",
    "L-7295265B": "Running On-Demand X instances",
    "L-74FC7D96": "Running On-Demand F instances",
    "L-1945791B": "Running On-Demand Inf instances",
    "L-2C3B7624": "Running On-Demand Trn instances",
    "L-6E869C2A": "Running On-Demand DL instances",
    "L-43DA4232": "Running On-Demand High Memory instances",
    "L-34B43A08": "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests",
    "L-3819A6DF": "All G and VT Spot Instance Requests",
    "L-7212CCBC": "All P Spot Instance Requests",
    "L-E3A00192": "All X Spot Instance Requests",
    "L-88CF9481": "All F Spot Instance Requests",
    "L-B5D1601B": "All Inf Spot Instance Requests",
    "L-6B0D517C": "All Trn Spot Instance Requests",
    "L-85EED4F7": "All DL Spot Instance Requests",
}
# The emulated account's defaults: room for the tests' launches unless a test lowers them.
DEFAULT_VCPUS = 256.0


@dataclass
class ServiceQuotas:
    applied: dict[str, float] = field(default_factory=dict)  # quota code -> applied value (GetServiceQuota)
    defaults: dict[str, float] = field(default_factory=dict)  # quota code -> default, else DEFAULT_VCPUS
    denied: bool = False  # the identity may not call servicequotas:Get*
    calls: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.applied.clear()
        self.defaults.clear()
        self.denied = False
        self.calls.clear()

    def answer(self, target: str, body: bytes, region: str) -> tuple[int, bytes] | None:
        """The answer to a Service Quotas call, or None when the request is not one."""
        if not target.startswith(TARGET_PREFIX):
            return None
        action = target.removeprefix(TARGET_PREFIX)
        self.calls.append(action)
        params = json.loads(body or b"{}")
        service, code = params.get("ServiceCode", ""), params.get("QuotaCode", "")
        if self.denied:
            message = f"User is not authorized to perform: servicequotas:{action}"
            return 400, _error("AccessDeniedException", message)
        if service != "ec2" or code not in EC2_QUOTA_NAMES:
            return 400, _error("NoSuchResourceException", f"The request failed because the specified quota {code} "
                               f"of service {service} does not exist.")  # fmt: skip
        if action == "GetServiceQuota":
            if code not in self.applied:
                return 400, _error("NoSuchResourceException", "The quota has no applied value.")
            return 200, _quota(code, self.applied[code], region)
        if action == "GetAWSDefaultServiceQuota":
            return 200, _quota(code, self.defaults.get(code, DEFAULT_VCPUS), region)
        return 400, _error("UnknownOperationException", action)


def _quota(code: str, value: float, region: str) -> bytes:
    return json.dumps(
        {
            "Quota": {
                "ServiceCode": "ec2",
                "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "QuotaArn": f"arn:aws:servicequotas:{region}::ec2/{code}",
                "QuotaCode": code,
                "QuotaName": EC2_QUOTA_NAMES[code],
                "Value": value,
                "Unit": "None",
                "Adjustable": True,
                "GlobalQuota": False,
            }
        }
    ).encode()


def _error(kind: str, message: str) -> bytes:
    return json.dumps({"__type": kind, "Message": message}).encode()


# RunInstances past the quota, as EC2 answers it (HTTP 400). On-demand: VcpuLimitExceeded, "You have requested
# more vCPU capacity than your current vCPU limit of N allows for the instance bucket that the specified instance
# type belongs to" (as users quote it: scrapoxy/scrapoxy#202, bentoml/bentoctl#202);
# spot: MaxSpotInstanceCountExceeded (EC2 API error codes). Buckets by instance family, from the EC2 User
# Guide's On-Demand and Spot quota pages, written out here apart from the pipe's own table.
VCPU_LIMIT = (
    "You have requested more vCPU capacity than your current vCPU limit of {limit} allows for the instance bucket "
    "that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to "
    "request an adjustment to this limit."
)
_BUCKETS = (  # (family prefix, on-demand quota, spot quota), longest prefixes first
    ("inf", "L-1945791B", "L-B5D1601B"),
    ("trn", "L-2C3B7624", "L-6B0D517C"),
    ("dl", "L-6E869C2A", "L-85EED4F7"),
    ("vt", "L-DB2E81BA", "L-3819A6DF"),
    ("g", "L-DB2E81BA", "L-3819A6DF"),
    ("p", "L-417A185B", "L-7212CCBC"),
    ("x", "L-7295265B", "L-E3A00192"),
    ("f", "L-74FC7D96", "L-88CF9481"),
)


def bucket(instance_type: str, spot: bool) -> str:
    for prefix, on_demand, spot_code in _BUCKETS:
        if instance_type.startswith(prefix):
            return spot_code if spot else on_demand
    return "L-34B43A08" if spot else "L-1216C47A"


def refusal(quotas: ServiceQuotas, instance_type: str, vcpus: int, spot: bool) -> tuple[str, str] | None:
    """(code, message) when one instance of the type is past its bucket's quota (running ones are not counted)."""
    code = bucket(instance_type, spot)
    limit = quotas.applied.get(code, quotas.defaults.get(code, DEFAULT_VCPUS))
    if vcpus <= limit:
        return None
    if spot:
        return "MaxSpotInstanceCountExceeded", "Max spot instance count exceeded"
    return "VcpuLimitExceeded", VCPU_LIMIT.format(limit=int(limit))

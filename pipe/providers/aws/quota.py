"""The EC2 vCPU quota an instance counts against, read from Service Quotas before a launch (issue 29).

EC2 limits running instances per instance family in vCPUs, one quota per family and market ("On-Demand
Instance quotas" and "Spot Instance quotas" in the Amazon EC2 User Guide:
https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html,
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-spot-limits.html). Service Quotas' GetServiceQuota
answers the applied value; where none is applied it answers NoSuchResourceException and the default comes from
GetAWSDefaultServiceQuota (Service Quotas API Reference; `aws service-quotas get-aws-default-service-quota
--service-code ec2 --quota-code L-1216C47A` in the AWS CLI's examples). Usage is not read: that is a CloudWatch
AWS/Usage metric, and another permission; the check compares one instance's vCPUs with the quota's value,
which is what a first GPU launch on a new account fails on (a quota of 0).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipe.providers.aws.errors import error_code, log_calls
from pipe.providers.quota import QuotaNeed, QuotaUnreadable

# (instance family prefixes, on-demand quota, spot quota, the families as the quota's name says them). Longest
# prefixes first: "inf" and "dl" before "i" and "d". Quota codes from the EC2 User Guide pages above.
FAMILIES: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("u-",), "L-43DA4232", "", "High Memory"),
    (("inf",), "L-1945791B", "L-B5D1601B", "Inf"),
    (("trn",), "L-2C3B7624", "L-6B0D517C", "Trn"),
    (("dl",), "L-6E869C2A", "L-85EED4F7", "DL"),
    (("vt", "g"), "L-DB2E81BA", "L-3819A6DF", "G and VT"),
    (("p",), "L-417A185B", "L-7212CCBC", "P"),
    (("x",), "L-7295265B", "L-E3A00192", "X"),
    (("f",), "L-74FC7D96", "L-88CF9481", "F"),
)
STANDARD = ("L-1216C47A", "L-34B43A08", "Standard (A, C, D, H, I, M, R, T, Z)")
DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException")


def quota_of(instance_type: str, *, spot: bool) -> tuple[str, str]:
    """(quota code, quota name) for one instance type and market; ("", "") where the market has no quota."""
    family = instance_type.split(".")[0].lower()
    on_demand, spot_code, families = next((row[1:] for row in FAMILIES if family.startswith(row[0])), STANDARD)
    if spot:
        return (spot_code, f"All {families} Spot Instance Requests") if spot_code else ("", "")
    return on_demand, f"Running On-Demand {families} instances"


def quota_needs(session: Any, ec2: Any, region: str, instance_type: str, *, spot: bool) -> list[QuotaNeed]:
    code, name = quota_of(instance_type, spot=spot)
    if not code:
        return []
    try:
        described = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    except (ClientError, BotoCoreError) as error:
        raise _unreadable(error, "ec2:DescribeInstanceTypes") from None
    if not described:
        return []
    vcpus = int(described[0]["VCpuInfo"]["DefaultVCpus"])
    quotas = session.client("service-quotas")
    log_calls(quotas)
    value = _value(quotas, code)
    ask = f"https://{region}.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/{code}"
    return [QuotaNeed(f"EC2 quota {code} ({name}) in {region}", value, None, vcpus, "vCPUs", ask)]


def _value(quotas: Any, code: str) -> float:
    try:
        return float(quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])
    except ClientError as error:
        if error_code(error) != "NoSuchResourceException":
            raise _unreadable(error, "servicequotas:GetServiceQuota") from None
    except BotoCoreError as error:
        raise _unreadable(error, "servicequotas:GetServiceQuota") from None
    try:  # no applied value: the quota is at its default
        return float(quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])
    except (ClientError, BotoCoreError) as error:
        raise _unreadable(error, "servicequotas:GetAWSDefaultServiceQuota") from None


def _unreadable(error: Exception, action: str) -> QuotaUnreadable:
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in DENIED:
            return QuotaUnreadable(f"the AWS credentials may not call {action} ({code}); grant it to check quotas")
        return QuotaUnreadable(f"AWS {action} failed ({code})")
    return QuotaUnreadable(f"AWS {action} failed: {str(error).splitlines()[0][:200]}")

"""AWS: the IAM actions of every EC2 and STS call the pipe makes (pipe/providers/aws/), by boto3 operation name.

Side checks: tags given at creation also need ec2:CreateTags ("If tags are specified in the resource-creating
action, Amazon performs additional authorization on the ec2:CreateTags action", EC2 User Guide, "Grant permission
to tag Amazon EC2 resources during creation"); an instance profile (CLOUD_PERMISSION_SET) needs iam:PassRole on its
role (EC2 User Guide, "IAM roles for Amazon EC2", "Permissions to launch instances with roles").
sts:DecodeAuthorizationMessage lets an access denied name the missing permission (pipe/providers/aws/errors.py).
"""

from __future__ import annotations

CALLS: dict[str, tuple[str, ...]] = {
    "describe_instance_type_offerings": ("ec2:DescribeInstanceTypeOfferings",),
    "describe_images": ("ec2:DescribeImages",),
    "describe_subnets": ("ec2:DescribeSubnets",),
    "describe_security_groups": ("ec2:DescribeSecurityGroups",),
    "create_security_group": ("ec2:CreateSecurityGroup", "ec2:CreateTags"),
    "describe_route_tables": ("ec2:DescribeRouteTables",),
    "run_instances": ("ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"),
    "describe_instances": ("ec2:DescribeInstances",),
    "terminate_instances": ("ec2:TerminateInstances",),
    "create_image": ("ec2:CreateImage", "ec2:CreateTags"),
    "get_console_output": ("ec2:GetConsoleOutput",),  # the bake's success line
    "describe_snapshots": ("ec2:DescribeSnapshots",),
    "deregister_image": ("ec2:DeregisterImage",),
    "delete_snapshot": ("ec2:DeleteSnapshot",),
    "decode_authorization_message": ("sts:DecodeAuthorizationMessage",),
    # DRY_RUN's credentials check: "No permissions are required to perform this operation" (STS API Reference,
    # GetCallerIdentity).
    "get_caller_identity": (),
}

_LAUNCH = (
    "describe_instance_type_offerings",
    "describe_images",
    "describe_subnets",
    "describe_security_groups",
    "create_security_group",
    "describe_route_tables",
    "run_instances",
    "describe_instances",
    "terminate_instances",  # the rollback, and retiring leftovers
    "decode_authorization_message",
    "get_caller_identity",
)
_IMAGES = ("describe_images", "describe_snapshots", "deregister_image", "delete_snapshot")

MODES: dict[str, tuple[str, ...]] = {
    "runner": _LAUNCH,
    "bake": (*_LAUNCH, "get_console_output", "create_image", *_IMAGES),
    "sweep": ("describe_instances", "terminate_instances", *_IMAGES, "decode_authorization_message"),
}

# iam:PassRole only to EC2 (IAM User Guide, "IAM and AWS STS condition context keys", iam:PassedToService).
PASS_ROLE_CONDITION = {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}

"""IAM enforced on the emulated AWS: moto's own enforcement of the caller's policies, plus what EC2 and STS check
that moto does not.

moto (5.2) checks each request's own action against the calling IAM user's policies once its
INITIAL_NO_AUTH_ACTION_COUNT is spent (`POST /moto-api/reset-auth` sets it at run time; moto's
"IAM-like Access Control" docs). It does not check the permissions an action needs on the side, and it has no
DecodeAuthorizationMessage. The fault proxy (aws_faults.py) asks this object first, and it refuses as AWS does:

- tags given at creation (TagSpecifications on RunInstances, CreateImage, CreateSecurityGroup) also need
  ec2:CreateTags ("If tags are specified in the resource-creating action, Amazon performs additional
  authorization on the ec2:CreateTags action", EC2 User Guide, "Grant permission to tag Amazon EC2 resources
  during creation");
- an instance profile (IamInstanceProfile on RunInstances) also needs iam:PassRole on its role ("To launch an
  instance with a role, the user must have permission to pass the role to the instance", EC2 User Guide, "IAM
  roles for Amazon EC2", "Permissions to launch instances with roles");
- such a refusal is EC2's UnauthorizedOperation, HTTP 403, "You are not authorized to perform this operation.
  Encoded authorization failure message: ..." (EC2 API reference, "Error codes"), whose message only
  sts:DecodeAuthorizationMessage turns into the JSON that names the action (STS API reference,
  DecodeAuthorizationMessage: "allowed", "explicitDeny", "matchedStatements", "failures", "context").

A request the proxy forwards is signed again for moto with the caller's own key (the proxy may have changed its
body), and the proxy's own bookkeeping calls are signed with an administrator's key.
"""

from __future__ import annotations

import fnmatch
import json
import secrets
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"  # moto's default account
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15"
_STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
_TAGGED_ON_CREATE = {"RunInstances": "instance", "CreateImage": "image", "CreateSecurityGroup": "security-group"}


@dataclass
class User:
    name: str
    key_id: str
    secret: str
    policy: Mapping[str, Any]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:user/{self.name}"

    def allows(self, action: str) -> bool:
        """IAM's evaluation for Allow statements with Resource "*" (all the pipe's policies have): an action
        matches an Action entry case-insensitively, with * and ? as wildcards (IAM User Guide, "IAM JSON
        policy elements: Action")."""
        for statement in self.policy.get("Statement", []):
            actions = statement.get("Action", [])
            for pattern in [actions] if isinstance(actions, str) else actions:
                if statement.get("Effect") == "Allow" and fnmatch.fnmatchcase(action.lower(), pattern.lower()):
                    return True
        return False


@dataclass
class Refusal:
    code: str
    status: int
    message: str
    xml: bytes


@dataclass
class IamEnforcement:
    moto_url: str
    users: dict[str, User] = field(default_factory=dict)  # access key id -> user
    admin: User | None = None
    decoded: dict[str, str] = field(default_factory=dict)  # encoded message -> its decoded JSON

    # -- set-up, while moto still answers without authentication

    def start(self, policies: Mapping[str, Mapping[str, Any]]) -> dict[str, User]:
        """Create an administrator and one IAM user per policy (inline), then turn moto's enforcement on."""
        import boto3

        self._reset_auth("inf")
        iam = boto3.client(
            "iam", endpoint_url=self.moto_url, region_name="us-east-1",
            aws_access_key_id="AKIAFAKEFORTESTS0001", aws_secret_access_key="unused",
        )  # fmt: skip
        made: dict[str, User] = {}
        for name, policy in {"cml-admin": ADMIN_POLICY, **policies}.items():
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            made[name] = User(name, key["AccessKeyId"], key["SecretAccessKey"], policy)
            self.users[key["AccessKeyId"]] = made[name]
        self.admin = made.pop("cml-admin")
        return made

    def enforce(self) -> None:
        """From the next request on, moto authenticates and authorizes every request."""
        self._reset_auth("0")

    def stop(self) -> None:
        self._reset_auth("inf")
        self.users.clear()
        self.admin = None
        self.decoded.clear()

    def _reset_auth(self, count: str) -> None:
        request = urllib.request.Request(
            f"{self.moto_url}/moto-api/reset-auth", data=count.encode(), method="POST",
            headers={"Content-Type": "application/octet-stream"},  # a form body would leave moto's request.data empty
        )  # fmt: skip
        urllib.request.urlopen(request, timeout=10).close()

    # -- called by the proxy for each request

    def caller(self, headers: Mapping[str, str]) -> tuple[User | None, str, str]:
        """The user whose key signed the request, and the region and service of its credential scope."""
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scope = auth.partition("Credential=")[2].partition(",")[0].split("/")
        if len(scope) < 4:
            return None, "us-east-1", ""
        return self.users.get(scope[0]), scope[2], scope[3]

    def refuse(self, params: Mapping[str, list[str]], headers: Mapping[str, str]) -> Refusal | None:
        user, region, service = self.caller(headers)
        if user is None:
            return None  # moto's own check answers an unknown key
        action = params.get("Action", [""])[0]
        if service == "sts" and action == "DecodeAuthorizationMessage":
            return self._decode(user, params.get("EncodedMessage", [""])[0])
        if service != "ec2":
            return None
        needed = []
        if action in _TAGGED_ON_CREATE and any(k.startswith("TagSpecification.") for k in params):
            needed.append(("ec2:CreateTags", f"arn:aws:ec2:{region}:{ACCOUNT}:{_TAGGED_ON_CREATE[action]}/*"))
        if action == "RunInstances":
            profile = params.get("IamInstanceProfile.Name", params.get("IamInstanceProfile.Arn", [""]))[0]
            if profile:
                needed.append(("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{profile.rpartition('/')[2]}"))
        for permission, resource in needed:
            if not user.allows(permission):
                return self._unauthorized(user, permission, resource)
        return None

    def _unauthorized(self, user: User, action: str, resource: str) -> Refusal:
        decoded = {
            "allowed": False,
            "explicitDeny": False,
            "matchedStatements": {"items": []},
            "failures": {"items": []},
            "context": {
                "principal": {"id": user.key_id, "name": user.name, "arn": user.arn},
                "action": action,
                "resource": resource,
                "conditions": {"items": []},
            },
        }
        encoded = secrets.token_urlsafe(96)
        self.decoded[encoded] = json.dumps(decoded)
        message = f"You are not authorized to perform this operation. Encoded authorization failure message: {encoded}"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code>'
            f"<Message>{message}</Message></Error></Errors><RequestID>{secrets.token_hex(8)}</RequestID></Response>"
        ).encode()
        return Refusal("UnauthorizedOperation", 403, message, xml)

    def _decode(self, user: User, encoded: str) -> Refusal:
        """STS answers here (moto has no DecodeAuthorizationMessage): the decoded message, or AccessDenied."""
        if not user.allows("sts:DecodeAuthorizationMessage"):
            message = f"User: {user.arn} is not authorized to perform: sts:DecodeAuthorizationMessage"
            xml = (
                f'<ErrorResponse xmlns="{_STS_XMLNS}"><Error><Type>Sender</Type><Code>AccessDenied</Code>'
                f"<Message>{message}</Message></Error><RequestId>{secrets.token_hex(8)}</RequestId></ErrorResponse>"
            ).encode()
            return Refusal("AccessDenied", 403, message, xml)
        if encoded not in self.decoded:
            message = "The message provided is invalid"  # STS InvalidAuthorizationMessageException
            xml = (
                f'<ErrorResponse xmlns="{_STS_XMLNS}"><Error><Type>Sender</Type>'
                f"<Code>InvalidAuthorizationMessageException</Code><Message>{message}</Message></Error>"
                f"<RequestId>{secrets.token_hex(8)}</RequestId></ErrorResponse>"
            ).encode()
            return Refusal("InvalidAuthorizationMessageException", 400, message, xml)
        from xml.sax.saxutils import escape

        xml = (
            f'<DecodeAuthorizationMessageResponse xmlns="{_STS_XMLNS}"><DecodeAuthorizationMessageResult>'
            f"<DecodedMessage>{escape(self.decoded[encoded])}</DecodedMessage></DecodeAuthorizationMessageResult>"
            f"<ResponseMetadata><RequestId>{secrets.token_hex(8)}</RequestId></ResponseMetadata>"
            "</DecodeAuthorizationMessageResponse>"
        ).encode()
        return Refusal("", 200, "", xml)

    def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, *, as_admin: bool = False
    ) -> dict[str, str]:
        """Headers for moto: the request signed again (SigV4) with its caller's key, or the administrator's."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        user, region, service = self.caller(headers)
        if as_admin or user is None:
            user = self.admin
        assert user is not None, "IamEnforcement.start() first"
        kept = {k: v for k, v in headers.items() if k.lower() in ("content-type", "user-agent")}
        request = AWSRequest(method=method, url=url, data=body, headers=kept)
        SigV4Auth(Credentials(user.key_id, user.secret), service or "ec2", region).add_auth(request)
        return {**dict(request.headers.items()), "Content-Length": str(len(body))}


def action_names(policy: Mapping[str, Any]) -> Iterable[str]:
    for statement in policy.get("Statement", []):
        actions = statement.get("Action", [])
        yield from [actions] if isinstance(actions, str) else actions


def without(policy: Mapping[str, Any], permission: str) -> dict[str, Any]:
    """The policy with one permission taken out of every statement (the test that the check bites)."""
    statements = []
    for statement in policy["Statement"]:
        actions = statement["Action"]
        kept = [a for a in ([actions] if isinstance(actions, str) else actions) if a != permission]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**policy, "Statement": statements}

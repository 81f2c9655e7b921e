"""Write the least-privilege policy files in docs/policies/ from the one declaration of the permissions each mode
calls (pipe/providers/permissions*.py).

    python tools/policies.py          # rewrite docs/policies/
    python tools/policies.py --check  # exit 1 if a file is missing or out of date (.ci/run runs this)

AWS: an IAM policy document (IAM User Guide, "IAM JSON policy element reference"). GCP: a custom role as
`gcloud iam roles create ROLE --project=PROJECT --file=FILE` takes it (title, description, stage,
includedPermissions; cloud.google.com/iam/docs/creating-custom-roles). Azure: a custom role definition as
`az role definition create --role-definition FILE` takes it (Name, IsCustom, Description, Actions, NotActions,
DataActions, NotDataActions, AssignableScopes; learn.microsoft.com/azure/role-based-access-control/custom-roles).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import yaml  # noqa: E402  # after the path fix, like the pipe's own imports

from pipe.providers.permissions import MODES, needed  # noqa: E402
from pipe.providers.permissions_aws import PASS_ROLE_CONDITION  # noqa: E402

POLICIES = REPO_ROOT / "docs" / "policies"
PURPOSE = {
    "runner": "launch runner instances and roll them back (COMMAND: runner)",
    "bake": "bake a machine image and roll it back (COMMAND: bake)",
    "sweep": "terminate orphaned instances and stale baked images (COMMAND: sweep)",
}


def aws(mode: str) -> str:
    actions = needed("aws", mode)
    statements: list[dict[str, object]] = [
        {"Sid": "CmlRunnerPipe", "Effect": "Allow", "Action": [a for a in actions if a != "iam:PassRole"],
         "Resource": "*"},
    ]  # fmt: skip
    if "iam:PassRole" in actions:
        statements.append(
            {"Sid": "PassInstanceRoleToEc2", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*",
             "Condition": PASS_ROLE_CONDITION}
        )  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2) + "\n"


def gcp(mode: str) -> str:
    role = {
        "title": f"CML Runner pipe ({mode})",
        "description": f"The permissions the CML Runner pipe needs to {PURPOSE[mode]}.",
        "stage": "GA",
        "includedPermissions": needed("gcp", mode),
    }
    return yaml.safe_dump(role, sort_keys=False, width=120)


def azure(mode: str) -> str:
    role = {
        "Name": f"CML Runner pipe ({mode})",
        "IsCustom": True,
        "Description": f"The permissions the CML Runner pipe needs to {PURPOSE[mode]}.",
        "Actions": needed("azure", mode),
        "NotActions": [],
        "DataActions": [],
        "NotDataActions": [],
        "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"],
    }
    return json.dumps(role, indent=2) + "\n"


def files() -> dict[Path, str]:
    out: dict[Path, str] = {}
    for mode in MODES:
        out[POLICIES / f"aws-{mode}.json"] = aws(mode)
        out[POLICIES / f"gcp-{mode}.yaml"] = gcp(mode)
        out[POLICIES / f"azure-{mode}.json"] = azure(mode)
    return out


def main(argv: list[str]) -> int:
    wanted = files()
    if "--check" in argv:
        stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
        if stale:
            names = ", ".join(str(p.relative_to(REPO_ROOT)) for p in stale)
            print(f"{names} out of date: run python tools/policies.py", file=sys.stderr)
            return 1
        return 0
    POLICIES.mkdir(parents=True, exist_ok=True)
    for path, text in wanted.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

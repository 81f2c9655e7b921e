"""The exact cloud permissions each mode calls: one declaration per cloud (permissions_aws.py, permissions_gcp.py,
permissions_azure.py), read by tools/policies.py to write docs/policies/ and by the errors that name a missing
permission (pipe/providers/aws/errors.py).

Each cloud module declares CALLS (an API call, named as the provider's code names it, -> every permission it
needs: its own first, then those the cloud checks on the side) and MODES (a mode -> the calls it may make, the
rollback's included). A mode's policy is the union of its calls' permissions.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODES = ("runner", "bake", "sweep")
CLOUDS = ("aws", "gcp", "azure")


def _declaration(cloud: str) -> ModuleType:
    if cloud not in CLOUDS:
        raise ValueError(f"no permission declaration for cloud {cloud!r}")
    return importlib.import_module(f"pipe.providers.permissions_{cloud}")


def needed(cloud: str, mode: str) -> list[str]:
    """Every permission `mode` may need on `cloud`, sorted."""
    declaration = _declaration(cloud)
    calls: dict[str, tuple[str, ...]] = declaration.CALLS
    return sorted({permission for call in declaration.MODES[mode] for permission in calls[call]})


def needed_by(cloud: str, call: str) -> tuple[str, ...]:
    """The permissions one call needs (its own first); () for a call the declaration does not know."""
    calls: dict[str, tuple[str, ...]] = _declaration(cloud).CALLS
    return calls.get(call, ())

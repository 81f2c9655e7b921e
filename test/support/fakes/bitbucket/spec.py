"""Bitbucket Cloud's published OpenAPI (Swagger 2.0) description, read at test time only.

The spec file is not shipped with the pipe. This module derives from it what the tests and the two
committed scope tables need (from test/):

    python -m fakes.bitbucket.spec --emit-scopes > fakes/bitbucket/scopes.py
    python -m fakes.bitbucket.spec --emit-client-scopes > ../pipe/bitbucket/scopes.py

The first is every operation's scopes, which the local Bitbucket enforces; the second holds only the
operations the pipe's client calls (the ones already listed there: add a key to list a new one), so a 403
can name the scope it lacks. ``test_bitbucket_conformance`` checks both still match the spec, and that the
client calls nothing its table lacks. Run ``ruff format`` on both after regenerating.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pprint
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SPEC_NAME = "specs/bitbucket-cloud-openapi.json"
# BITBUCKET_OPENAPI_SPEC, else shared/ beside the repository (as CI lays it out), else this workplace's copy.
_CANDIDATES = [
    Path(os.environ.get("BITBUCKET_OPENAPI_SPEC", "")),
    Path(__file__).resolve().parents[5] / "shared" / _SPEC_NAME,
    Path("/work/shared") / _SPEC_NAME,
]
SPEC_PATH = next((p for p in _CANDIDATES if str(p) != "." and p.is_file()), _CANDIDATES[1])
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# Legacy OAuth scopes (the spec's `security`) -> the form the API token UI shows, used only for the
# few operations without `x-atlassian-oauth2-scopes`.
_LEGACY_RESOURCE = {"account": "user", "email": "user", "team": "workspace"}
_LEGACY_SPECIAL = {"pipeline:variable": "admin:pipeline:bitbucket"}


@functools.cache
def load_spec(path: str = str(SPEC_PATH)) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        spec: dict[str, Any] = json.load(fh)
    return spec


def legacy_to_token_scope(scope: str) -> str:
    """'runner:write' -> 'write:runner:bitbucket'; 'repository' -> 'read:repository:bitbucket'."""
    if scope in _LEGACY_SPECIAL:
        return _LEGACY_SPECIAL[scope]
    resource, _, level = scope.partition(":")
    resource = _LEGACY_RESOURCE.get(resource, resource)
    return f"{level or 'read'}:{resource}:bitbucket"


def operation_scopes(spec: dict[str, Any]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(METHOD, path template) -> the scopes an access/API token needs, in the token UI's form.

    Taken from the operation's ``x-atlassian-oauth2-scopes`` (the current, granular scopes), else
    from its ``security`` oauth2 scopes mapped to that form.
    """
    table: dict[tuple[str, str], tuple[str, ...]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            scopes: tuple[str, ...] = ()
            for entry in op.get("x-atlassian-oauth2-scopes") or []:
                if entry.get("scheme") == "oauth2" and entry.get("state", "Current") == "Current":
                    scopes = tuple(entry.get("scopes", ()))
                    break
            else:
                for sec in op.get("security") or []:
                    if "oauth2" in sec:
                        scopes = tuple(legacy_to_token_scope(s) for s in sec["oauth2"])
                        break
            table[(method.upper(), path)] = scopes
    return table


def operation(spec: dict[str, Any], method: str, template: str) -> dict[str, Any] | None:
    item = spec["paths"].get(template)
    if item is None:
        return None
    op = item.get(method.lower())
    return op if isinstance(op, dict) else None


def emit_scopes_module(spec: dict[str, Any], operations: Iterable[tuple[str, str]] | None = None) -> str:
    """The scope table as a Python module: every operation, or (the pipe's client) only `operations`."""
    table = operation_scopes(spec)
    if operations is None:
        what = "Scopes each Bitbucket Cloud API operation needs"
        command = "--emit-scopes"
    else:
        table = {key: table[key] for key in operations}
        what = "Scopes each Bitbucket Cloud API operation the pipe's client calls needs"
        command = "--emit-client-scopes"
    body = pprint.pformat(dict(sorted(table.items())), width=118, sort_dicts=False)
    return (
        f'"""{what}, in the form the token UI shows.\n\n'
        "GENERATED from Atlassian's OpenAPI description (x-atlassian-oauth2-scopes, else `security`) by\n"
        f"`python -m fakes.bitbucket.spec {command}`; do not edit by hand. A test checks it matches the spec.\n"
        '"""\n\n'
        f"SPEC_SHA256 = {spec_sha256()!r}\n\n"
        f"OPERATION_SCOPES: dict[tuple[str, str], tuple[str, ...]] = {body}\n"
    )


def spec_sha256(path: str = str(SPEC_PATH)) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emit-scopes", action="store_true", help="print fakes/bitbucket/scopes.py")
    parser.add_argument("--emit-client-scopes", action="store_true", help="print pipe/bitbucket/scopes.py")
    args = parser.parse_args()
    if args.emit_scopes:
        print(emit_scopes_module(load_spec()), end="")
    if args.emit_client_scopes:
        from pipe.bitbucket.scopes import OPERATION_SCOPES as CLIENT_SCOPES

        print(emit_scopes_module(load_spec(), CLIENT_SCOPES), end="")


if __name__ == "__main__":
    main()

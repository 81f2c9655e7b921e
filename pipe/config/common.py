"""Variables every command reads: COMMAND, DEBUG, DRY_RUN, Bitbucket auth and the pipeline's context."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pipe.config import spelling
from pipe.config.parsers import check_text, parse_bool, parse_choice, parse_endpoint
from pipe.config.variables import ConfigError, Variable

COMMANDS = ("runner", "report", "pr", "sweep", "bake", "restore")
DEFAULT_API_URL = "https://api.bitbucket.org/2.0"
APP_PASSWORDS_OFF = "2026-07-28"

_AUTH_HINT = (
    "set BITBUCKET_ACCESS_TOKEN (a repository, project or workspace access token) "
    "or ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN (an Atlassian API token with Bitbucket scopes)"
)

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "COMMAND",
        "What the pipe does: `runner` starts a cloud instance as a self-hosted runner, `report` posts a training "
        "report, `pr` opens a pull request with files, `sweep` removes leftover instances and stale baked images, "
        "`bake` makes a machine image with Docker and the runner image installed, so runners skip those installs "
        "at boot (AWS, GCP and Azure in this version), `restore` puts the newest spot-recovery checkpoint of the "
        "commit into CHECKPOINT_PATH (nothing on a first run).",
        default="runner",
        modes=("all",),
        example="'<string>'",
    ),
    Variable(
        "BITBUCKET_ACCESS_TOKEN",
        "A repository, project or workspace access token (Bearer). Use this or the two ATLASSIAN_* variables.",
        secret=True,
        modes=("all",),
        example="$BITBUCKET_ACCESS_TOKEN",
    ),
    Variable(
        "ATLASSIAN_ACCOUNT_EMAIL",
        "The Atlassian account email for an Atlassian API token (Basic auth), with ATLASSIAN_API_TOKEN.",
        modes=("all",),
        example="$ATLASSIAN_ACCOUNT_EMAIL",
    ),
    Variable(
        "ATLASSIAN_API_TOKEN",
        "An Atlassian API token with Bitbucket scopes, with ATLASSIAN_ACCOUNT_EMAIL.",
        secret=True,
        modes=("all",),
        example="$ATLASSIAN_API_TOKEN",
    ),
    Variable(
        "BITBUCKET_APP_PASSWORD",
        f"Not accepted: Atlassian switched app passwords off on {APP_PASSWORDS_OFF}. Use one of the tokens above.",
        secret=True,
        modes=("all",),
        example="",
    ),
    Variable(
        "BITBUCKET_API_URL",
        "The Bitbucket API base URL; for tests and the local demo.",
        default=DEFAULT_API_URL,
        modes=("all",),
        testing=True,
    ),
    Variable("DRY_RUN", "Print the plan and make no changes.", default="false", modes=("all",), example="'<boolean>'"),
    Variable("DEBUG", "Turn on extra debug information.", default="false", modes=("all",), example="'<boolean>'"),
    Variable(
        "STRICT_VARIABLES",
        "Fail, instead of warning, on a variable that looks like a misspelling of one of the pipe's (`IDLE_TIMOUT`) "
        "or is one of CML's flag names (`CLOUD_HDD`, `SPOT`).",
        default="false",
        modes=("all",),
        example="'<boolean>'",
    ),
    # Bitbucket Pipelines sets these in every step; the pipe reads them, users do not.
    Variable("BITBUCKET_WORKSPACE", "The workspace of the build.", modes=("all",), context=True),
    Variable("BITBUCKET_REPO_SLUG", "The repository of the build.", modes=("all",), context=True),
    Variable("BITBUCKET_REPO_UUID", "The repository's UUID.", modes=("all",), context=True),
    Variable("BITBUCKET_COMMIT", "The commit the build runs on.", modes=("all",), context=True),
    Variable("BITBUCKET_BRANCH", "The branch the build runs on.", modes=("all",), context=True),
    Variable("BITBUCKET_PR_ID", "The pull request of a PR build.", modes=("all",), context=True),
    Variable("BITBUCKET_PR_DESTINATION_BRANCH", "The PR's destination branch.", modes=("all",), context=True),
    Variable("BITBUCKET_BUILD_NUMBER", "The build number.", modes=("all",), context=True),
    Variable("BITBUCKET_PIPELINE_UUID", "The pipeline's UUID.", modes=("all",), context=True),
    Variable("BITBUCKET_STEP_UUID", "The step's UUID.", modes=("all",), context=True),
    Variable("BITBUCKET_CLONE_DIR", "The clone directory.", modes=("all",), context=True),
    Variable("BITBUCKET_PIPE_SHARED_STORAGE_DIR", "Storage shared between pipes.", modes=("all",), context=True),
    Variable(
        "BITBUCKET_STEP_OIDC_TOKEN", "The step's OIDC token (oidc: true).", secret=True, modes=("all",), context=True
    ),
)

_SLUG = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
# What names the repository on our instances (the repository tag), so it must be a real UUID.
_UUID = r"\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?"


@dataclass(frozen=True)
class AuthSettings:
    """Arguments for pipe.bitbucket.client.Auth: access_token (Bearer) or email + api_token (Basic)."""

    access_token: str = field(default="", repr=False)
    email: str = ""
    api_token: str = field(default="", repr=False)

    @property
    def kind(self) -> Literal["bearer", "basic"]:
        return "bearer" if self.access_token else "basic"


@dataclass(frozen=True)
class CommonSettings:
    command: str
    debug: bool
    dry_run: bool
    api_url: str
    auth: AuthSettings
    workspace: str
    repo_slug: str
    repo_uuid: str = ""
    commit: str = ""
    branch: str = ""
    pr_id: int | None = None
    pr_destination_branch: str = ""
    build_number: str = ""
    pipeline_uuid: str = ""
    step_uuid: str = ""
    clone_dir: str = ""
    shared_storage_dir: str = ""
    oidc_token: str = field(default="", repr=False)
    warnings: tuple[str, ...] = ()  # accepted but worth telling the user; printed by the entry point


def load_command(env: Mapping[str, str]) -> str:
    return parse_choice("COMMAND", env.get("COMMAND", ""), COMMANDS, "runner")


def load_auth(env: Mapping[str, str]) -> tuple[AuthSettings, tuple[str, ...]]:
    token = env.get("BITBUCKET_ACCESS_TOKEN", "").strip()
    email = env.get("ATLASSIAN_ACCOUNT_EMAIL", "").strip()
    api_token = env.get("ATLASSIAN_API_TOKEN", "").strip()
    app_password = env.get("BITBUCKET_APP_PASSWORD", "").strip()
    warnings: tuple[str, ...] = ()
    if app_password:
        if not (token or (email and api_token)):
            raise ConfigError(
                "BITBUCKET_APP_PASSWORD",
                app_password,
                "",
                secret=True,
                message=f"BITBUCKET_APP_PASSWORD is no longer accepted: Atlassian switched app passwords off on "
                f"{APP_PASSWORDS_OFF}; {_AUTH_HINT}",
            )
        warnings = ("BITBUCKET_APP_PASSWORD is ignored: app passwords were switched off; using the token given",)
    if email and not api_token:
        raise ConfigError.missing("ATLASSIAN_API_TOKEN", "ATLASSIAN_ACCOUNT_EMAIL is set, so give its API token too")
    if api_token and not email:
        raise ConfigError.missing("ATLASSIAN_ACCOUNT_EMAIL", "ATLASSIAN_API_TOKEN is set, so give its account email")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
        raise ConfigError("ATLASSIAN_ACCOUNT_EMAIL", email, "an email address, e.g. me@example.com")
    if token:
        # Both given: the access token wins; it is scoped to this repository, project or workspace.
        return AuthSettings(access_token=token), warnings
    if email:
        return AuthSettings(email=email, api_token=api_token), warnings
    raise ConfigError(
        "BITBUCKET_ACCESS_TOKEN", "", _AUTH_HINT, message=f"Bitbucket credentials are missing: {_AUTH_HINT}"
    )


def _api_url(env: Mapping[str, str]) -> str:
    url = parse_endpoint(
        "BITBUCKET_API_URL",
        env.get("BITBUCKET_API_URL", ""),
        example="https://api.bitbucket.org/2.0",
        pattern=r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~/-]*)?",
    )
    return url or DEFAULT_API_URL


def _required_slug(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError.missing(name, "Bitbucket Pipelines sets it; set it yourself when running the pipe elsewhere")
    return check_text(name, value, max_length=128, pattern=_SLUG, allowed="letters, digits, '.', '_', '-'")


def _pr_id(env: Mapping[str, str]) -> int | None:
    value = env.get("BITBUCKET_PR_ID", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError("BITBUCKET_PR_ID", value, "a positive whole number (the pull request id)")
    return int(value)


_NOT_IN_A_TOKEN = re.compile(r"[\s\x00-\x1f\x7f]")


def check_tokens(env: Mapping[str, str]) -> None:
    """Every one-token secret (access tokens, API keys, client secrets) holds no whitespace or control character.

    A line break in a token ends up in an HTTP header, and requests' "Invalid leading whitespace, reserved
    character(s), or return character(s) in header value" error prints the whole header, token included.
    Refused here, before any request, with a line that never shows the value.
    """
    from pipe.config import all_variables  # the declarations of every mode; imported late (it imports us)

    for variable in all_variables():
        value = env.get(variable.name, "")
        if variable.secret and not variable.multiline and value and _NOT_IN_A_TOKEN.search(value):
            raise ConfigError(
                variable.name,
                value,
                "it contains a space, line break or other control character; copy the value again without them",
                secret=True,
            )


def _spelling(env: Mapping[str, str]) -> list[str]:
    """Warnings for variables that look like ours but are not (pipe/config/spelling.py); with
    STRICT_VARIABLES: 'true' the first is the error, naming how many more there are."""
    from pipe.config import all_variables  # imported late (it imports us)

    found = spelling.suspicious(env, {v.name for v in all_variables()})
    strict = parse_bool("STRICT_VARIABLES", env.get("STRICT_VARIABLES", "").strip())
    if strict and found:
        name, meant = found[0]
        more = f" (and {len(found) - 1} more such variable(s))" if len(found) > 1 else ""
        message = f"{name} is not a variable of this pipe: {meant}{more} (STRICT_VARIABLES: 'true')"
        raise ConfigError(name, "", "", message=message)
    return [
        f"{name} is not a variable of this pipe and is ignored: {meant} (STRICT_VARIABLES: 'true' makes this an error)"
        for name, meant in found
    ]


def load(env: Mapping[str, str]) -> CommonSettings:
    def get(name: str) -> str:
        return env.get(name, "").strip()

    check_tokens(env)
    command = load_command(env)
    # COMMAND: restore speaks only to the checkpoint store: it needs no Bitbucket token, and takes none.
    auth, warnings = (AuthSettings(), ()) if command == "restore" else load_auth(env)
    warnings = (*_spelling(env), *warnings)
    commit = check_text(
        "BITBUCKET_COMMIT",
        get("BITBUCKET_COMMIT").lower(),
        max_length=40,
        pattern=r"[0-9a-f]{7,40}",
        allowed="a commit hash",
    )
    return CommonSettings(
        command=command,
        debug=parse_bool("DEBUG", get("DEBUG")),
        dry_run=parse_bool("DRY_RUN", get("DRY_RUN")),
        api_url=_api_url(env),
        auth=auth,
        workspace=_required_slug(env, "BITBUCKET_WORKSPACE"),
        repo_slug=_required_slug(env, "BITBUCKET_REPO_SLUG"),
        repo_uuid=check_text(
            "BITBUCKET_REPO_UUID",
            get("BITBUCKET_REPO_UUID"),
            max_length=38,
            pattern=_UUID,
            allowed="a UUID such as {11111111-2222-3333-4444-555555555555}",
        ),
        commit=commit,
        branch=check_text("BITBUCKET_BRANCH", get("BITBUCKET_BRANCH"), max_length=255),
        pr_id=_pr_id(env),
        pr_destination_branch=check_text(
            "BITBUCKET_PR_DESTINATION_BRANCH", get("BITBUCKET_PR_DESTINATION_BRANCH"), max_length=255
        ),
        build_number=check_text(
            "BITBUCKET_BUILD_NUMBER", get("BITBUCKET_BUILD_NUMBER"), max_length=20, pattern=r"\d+", allowed="a number"
        ),
        pipeline_uuid=check_text("BITBUCKET_PIPELINE_UUID", get("BITBUCKET_PIPELINE_UUID"), max_length=40),
        step_uuid=check_text("BITBUCKET_STEP_UUID", get("BITBUCKET_STEP_UUID"), max_length=40),
        clone_dir=get("BITBUCKET_CLONE_DIR") or os.getcwd(),
        shared_storage_dir=get("BITBUCKET_PIPE_SHARED_STORAGE_DIR"),
        oidc_token=get("BITBUCKET_STEP_OIDC_TOKEN"),
        warnings=warnings,
    )

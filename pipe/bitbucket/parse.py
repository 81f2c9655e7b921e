"""API JSON -> the typed objects in models.py; never returns a dict.

Optional fields may be missing; a field that is there must have its type, and the fields the pipe acts on
(a runner's uuid, a comment's or pull request's id) must be there. Anything else is a ShapeError saying
what was wrong, which the transport turns into one UnexpectedAnswer naming the call.
"""

from __future__ import annotations

from typing import Any

from pipe.bitbucket.models import Comment, Download, PullRequest, RegisteredRunner, Repository, Runner


class ShapeError(ValueError):
    """str() completes "Bitbucket API GET /x answered ...": e.g. "a runner with no uuid"."""


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _href(obj: dict[str, Any], name: str) -> str:
    return _str(_d(_d(obj.get("links")).get(name)), "href", "a link")


def _str(obj: dict[str, Any], key: str, what: str, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None or (value == "" and not required):
        if required:
            raise ShapeError(f"{what} with no {key}")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ShapeError(f"{what} whose {key} is {_shown(value)}, not a string")
    return value


def _int(obj: dict[str, Any], key: str, what: str) -> int:
    value = obj.get(key)
    if value is None:
        raise ShapeError(f"{what} with no {key}")
    # JSON numbers only: a bool is an int in Python, "abc" or "12" is not an id Bitbucket would send.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ShapeError(f"{what} whose {key} is {_shown(value)}, not a whole number")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def repository(data: dict[str, Any]) -> Repository:
    return Repository(
        full_name=_str(data, "full_name", "a repository"),
        uuid=_str(data, "uuid", "a repository", required=True),
        workspace_uuid=_str(_d(data.get("workspace")), "uuid", "a repository's workspace")
        or _str(_d(data.get("owner")), "uuid", "a repository's owner"),
        main_branch=_str(_d(data.get("mainbranch")), "name", "a repository's main branch") or "main",
    )


def runner(data: dict[str, Any]) -> Runner:
    state = _d(data.get("state"))
    labels = data.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ShapeError(f"a runner whose labels are {_shown(labels)}, not a list of strings")
    return Runner(
        uuid=_str(data, "uuid", "a runner", required=True),
        name=_str(data, "name", "a runner"),
        labels=tuple(labels),
        status=_str(state, "status", "a runner's state"),
        busy=bool(state.get("step")),
        created_on=_str(data, "created_on", "a runner"),
        updated_on=_str(data, "updated_on", "a runner"),
    )


def registered_runner(data: dict[str, Any]) -> RegisteredRunner:
    oauth = _d(data.get("oauth_client"))
    return RegisteredRunner(
        runner=runner(data),
        oauth_client_id=_str(oauth, "id", "a new runner's OAuth client", required=True),
        oauth_client_secret=_str(oauth, "secret", "a new runner's OAuth client", required=True),
        oauth_token_endpoint=_str(oauth, "token_endpoint", "a new runner's OAuth client"),
        oauth_audience=_str(oauth, "audience", "a new runner's OAuth client"),
    )


def comment(data: dict[str, Any]) -> Comment:
    return Comment(
        id=_int(data, "id", "a comment"),
        raw=_str(_d(data.get("content")), "raw", "a comment's content"),
        author_uuid=_str(_d(data.get("user")), "uuid", "a comment's author"),
        html_url=_href(data, "html"),
    )


def pull_request(data: dict[str, Any]) -> PullRequest:
    source = _d(data.get("source"))
    dest = _d(data.get("destination"))
    summary = _d(data.get("summary"))
    return PullRequest(
        id=_int(data, "id", "a pull request"),
        title=_str(data, "title", "a pull request"),
        description=_str(data, "description", "a pull request") or _str(summary, "raw", "a pull request's summary"),
        state=_str(data, "state", "a pull request"),
        source_branch=_str(_d(source.get("branch")), "name", "a pull request's source branch"),
        destination_branch=_str(_d(dest.get("branch")), "name", "a pull request's destination branch"),
        source_commit=_str(_d(source.get("commit")), "hash", "a pull request's source commit"),
        html_url=_href(data, "html"),
    )


def download(data: dict[str, Any], html_url: str) -> Download:
    size = data.get("size") or 0
    if isinstance(size, bool) or not isinstance(size, int):
        raise ShapeError(f"a download whose size is {_shown(size)}, not a whole number")
    return Download(name=_str(data, "name", "a download", required=True), html_url=html_url, size=size)


def branch_head(data: dict[str, Any]) -> str:
    return _str(_d(data.get("target")), "hash", "a branch's target")


def user_uuid(data: dict[str, Any]) -> str:
    return _str(data, "uuid", "the user", required=True)

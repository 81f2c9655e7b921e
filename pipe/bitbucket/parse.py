"""API JSON -> the typed objects in models.py. Tolerant of missing fields; never returns a dict."""

from __future__ import annotations

from typing import Any

from pipe.bitbucket.models import Comment, Download, PullRequest, RegisteredRunner, Repository, Runner


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _href(obj: dict[str, Any], name: str) -> str:
    return str(_d(_d(obj.get("links")).get(name)).get("href", ""))


def repository(data: dict[str, Any]) -> Repository:
    return Repository(
        full_name=str(data.get("full_name", "")),
        uuid=str(data.get("uuid", "")),
        workspace_uuid=str(_d(data.get("workspace")).get("uuid") or _d(data.get("owner")).get("uuid") or ""),
        main_branch=str(_d(data.get("mainbranch")).get("name") or "main"),
    )


def runner(data: dict[str, Any]) -> Runner:
    state = _d(data.get("state"))
    return Runner(
        uuid=str(data.get("uuid", "")),
        name=str(data.get("name", "")),
        labels=tuple(str(x) for x in data.get("labels") or ()),
        status=str(state.get("status", "")),
        busy=bool(state.get("step")),
        created_on=str(data.get("created_on", "")),
        updated_on=str(data.get("updated_on", "")),
    )


def registered_runner(data: dict[str, Any]) -> RegisteredRunner:
    oauth = _d(data.get("oauth_client"))
    return RegisteredRunner(
        runner=runner(data),
        oauth_client_id=str(oauth.get("id", "")),
        oauth_client_secret=str(oauth.get("secret", "")),
        oauth_token_endpoint=str(oauth.get("token_endpoint", "")),
        oauth_audience=str(oauth.get("audience", "")),
    )


def comment(data: dict[str, Any]) -> Comment:
    return Comment(
        id=int(data.get("id", 0)),
        raw=str(_d(data.get("content")).get("raw") or ""),
        author_uuid=str(_d(data.get("user")).get("uuid", "")),
        html_url=_href(data, "html"),
    )


def pull_request(data: dict[str, Any]) -> PullRequest:
    source = _d(data.get("source"))
    dest = _d(data.get("destination"))
    return PullRequest(
        id=int(data.get("id", 0)),
        title=str(data.get("title", "")),
        description=str(data.get("description") or _d(data.get("summary")).get("raw") or ""),
        state=str(data.get("state", "")),
        source_branch=str(_d(source.get("branch")).get("name", "")),
        destination_branch=str(_d(dest.get("branch")).get("name", "")),
        source_commit=str(_d(source.get("commit")).get("hash", "")),
        html_url=_href(data, "html"),
    )


def download(data: dict[str, Any], html_url: str) -> Download:
    return Download(name=str(data.get("name", "")), html_url=html_url, size=int(data.get("size") or 0))

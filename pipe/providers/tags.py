"""The tags that mark a resource as ours, in a form every cloud accepts.

GCP label values allow only lowercase letters, digits, '-' and '_' (<= 63
chars), so our values are written that way on every cloud: one parser then
reads them back everywhere (uuids lose their braces, times are epoch seconds).

The repository tag is the repository's UUID, so two repositories never share a
value (a slug-based value did: `acme/ml.seeds` and `acme/ml_seeds` both gave
`acme_ml_seeds`, and long names were cut at 63 characters). The runner's scope is
tagged too, so the sweep looks each runner up where it was registered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pipe.providers.base import (
    TAG_CREATED_AT,
    TAG_EXPIRES_AT,
    TAG_MANAGED_BY,
    TAG_MANAGED_BY_VALUE,
    TAG_PIPELINE,
    TAG_REPOSITORY,
    TAG_RUNNER_SCOPE,
    TAG_RUNNER_UUID,
)

_UNSAFE = re.compile(r"[^a-z0-9_-]+")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
RUNNER_SCOPES = ("repository", "workspace")


def label_value(text: str) -> str:
    """Any text -> a value valid as a GCP label (and so as an AWS or Azure tag)."""
    return _UNSAFE.sub("_", text.lower()).strip("_")[:63]


def runner_tag(uuid: str) -> str:
    return label_value(uuid.strip("{}"))


def is_uuid(text: str) -> bool:
    """A Bitbucket UUID, with or without its braces."""
    return bool(_UUID.fullmatch(text.strip().strip("{}").lower()))


def repository_tag(repository_uuid: str) -> str:
    """The repository's UUID as a tag value: one repository, one value, on every cloud."""
    value = repository_uuid.strip().strip("{}").lower()
    if not _UUID.fullmatch(value):
        raise ValueError(f"not a repository UUID: {repository_uuid!r}")
    return value


def legacy_repository_tag(workspace: str, repo_slug: str) -> str:
    """What versions before the UUID tag wrote: lossy, so it only ever selects candidates, never proves."""
    return label_value(f"{workspace}_{repo_slug}")


def is_legacy(tags: Mapping[str, str]) -> bool:
    """Tagged before the repository tag held the repository's UUID (no scope tag either)."""
    return not is_uuid(tags.get(TAG_REPOSITORY, ""))


def runner_scope(tags: Mapping[str, str]) -> str | None:
    """The scope the instance's runner was registered in; None when the tags do not say (legacy)."""
    value = tags.get(TAG_RUNNER_SCOPE, "")
    return value if value in RUNNER_SCOPES else None


def our_tags(
    *,
    runner_uuid: str,
    repository_uuid: str,
    runner_scope: str,
    pipeline: str,
    created_at: int,
    expires_at: int,
) -> dict[str, str]:
    if runner_scope not in RUNNER_SCOPES:
        raise ValueError(f"runner scope must be one of {RUNNER_SCOPES}, not {runner_scope!r}")
    return {
        TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
        TAG_RUNNER_UUID: runner_tag(runner_uuid),
        TAG_REPOSITORY: repository_tag(repository_uuid),
        TAG_RUNNER_SCOPE: runner_scope,
        TAG_PIPELINE: label_value(pipeline) or "local",
        TAG_CREATED_AT: str(created_at),
        TAG_EXPIRES_AT: str(expires_at),
    }


def merge_user_tags(ours: Mapping[str, str], metadata: Mapping[str, str], cloud: str) -> dict[str, str]:
    """CLOUD_METADATA tags beside ours; ours win, so a user tag can never hide an instance from the sweep."""
    merged: dict[str, str] = {}
    for key, value in metadata.items():
        if cloud in ("gcp", "kubernetes"):  # label values: GCP labels, Kubernetes labels
            key, value = label_value(key), label_value(value)
        merged[key] = value
    merged.update(ours)
    return merged


def expires_at(tags: Mapping[str, str]) -> int | None:
    raw = tags.get(TAG_EXPIRES_AT, "")
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


def created_at(tags: Mapping[str, str]) -> int | None:
    raw = tags.get(TAG_CREATED_AT, "")
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


def is_ours(tags: Mapping[str, str]) -> bool:
    return tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE

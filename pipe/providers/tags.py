"""The tags that mark a resource as ours, in a form every cloud accepts.

GCP label values allow only lowercase letters, digits, '-' and '_' (<= 63
chars), so our values are written that way on every cloud: one parser then
reads them back everywhere (uuids lose their braces, times are epoch seconds).
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
    TAG_RUNNER_UUID,
)

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def label_value(text: str) -> str:
    """Any text -> a value valid as a GCP label (and so as an AWS or Azure tag)."""
    return _UNSAFE.sub("_", text.lower()).strip("_")[:63]


def runner_tag(uuid: str) -> str:
    return label_value(uuid.strip("{}"))


def repository_tag(workspace: str, repo_slug: str) -> str:
    return label_value(f"{workspace}_{repo_slug}")


def our_tags(
    *, runner_uuid: str, workspace: str, repo_slug: str, pipeline: str, created_at: int, expires_at: int
) -> dict[str, str]:
    return {
        TAG_MANAGED_BY: TAG_MANAGED_BY_VALUE,
        TAG_RUNNER_UUID: runner_tag(runner_uuid),
        TAG_REPOSITORY: repository_tag(workspace, repo_slug),
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
    return int(raw) if raw.isdigit() else None


def is_ours(tags: Mapping[str, str]) -> bool:
    return tags.get(TAG_MANAGED_BY) == TAG_MANAGED_BY_VALUE

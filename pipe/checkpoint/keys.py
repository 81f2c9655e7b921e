"""Where one run's checkpoints live in the store: <prefix>/<repository>/<commit>/<CHECKPOINT_PATH>.

The commit, not the pipeline: a retried step, a new run on the same commit, and the next step of a training
longer than one step's max-time all find the same checkpoints; another commit starts from scratch.
"""

from __future__ import annotations

import base64
import json
import re

from pipe.errors import PipeError


def run_base(prefix: str, repository_uuid: str, commit: str, checkpoint_path: str) -> str:
    repository = repository_uuid.strip().strip("{}").lower()
    if not re.fullmatch(r"[0-9a-f-]{36}", repository):
        raise PipeError("spot recovery needs the repository's UUID (BITBUCKET_REPO_UUID, set by Bitbucket Pipelines)")
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise PipeError("spot recovery needs the commit (BITBUCKET_COMMIT, set by Bitbucket Pipelines)")
    parts = [prefix.strip("/"), repository, commit, checkpoint_path.strip("/")]
    return "/".join(part for part in parts if part)


def with_relaunch(checkpoint: dict[str, object], tags: dict[str, str], disk_gb: int) -> dict[str, object]:
    """The agent's checkpoint settings plus what its relaunch needs (pipe/bootstrap/relaunch.py): the launch's
    tags (base64 JSON: CLOUD_METADATA's values may hold characters the boot script's heredoc must not see) and
    root disk; spot_attempts and the stand-in endpoint came from the launch's preparation."""
    relaunch = dict(checkpoint.get("relaunch") or {})  # type: ignore[call-overload]
    relaunch.update(tags_b64=base64.b64encode(json.dumps(tags, sort_keys=True).encode()).decode(), disk_gb=disk_gb)
    return {**checkpoint, "relaunch": relaunch}

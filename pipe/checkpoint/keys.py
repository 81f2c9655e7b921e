"""Where one run's checkpoints live in the store: <prefix>/<repository>/<commit>/<CHECKPOINT_PATH>.

The commit, not the pipeline: a retried step, a new run on the same commit, and the next step of a training
longer than one step's max-time all find the same checkpoints; another commit starts from scratch.
"""

from __future__ import annotations

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

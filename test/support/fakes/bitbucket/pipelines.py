"""Which pushes start a pipeline: the rules of Bitbucket Pipelines' push triggers that PR mode meets.

Every branch update the fake makes (a commit through POST /src, a merge) is recorded as a Push with whether
Bitbucket would start a pipeline for it. Tests play the pipeline themselves (run the pipe on that branch and
commit); the fake only says which pushes would have started one. Tags, pull-request and custom pipelines are
not modelled: PR mode pushes branches only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Only these two labels skip, anywhere in the head commit's message, for a commit made in the UI (the /src
# endpoint) or pushed from git; another spelling ([skip-ci]...) starts the build. Atlassian KB "How to skip
# triggering an automatic pipeline build using Skip CI label" (confluence.atlassian.com/bbkb/
# how-to-skip-triggering-a-pipeline-build-using-skip-ci-label-1207188270.html) and "Pipeline start conditions"
# (support.atlassian.com/bitbucket-cloud/docs/pipeline-start-conditions/). Case: both pages give them in
# lower case only, so the fake honours exactly those (the stricter reading).
SKIP_LABELS = ("[skip ci]", "[ci skip]")
DEFAULT = "default"  # `pipelines: default`: every branch push that no `branches:` pattern matches


@dataclass(frozen=True)
class Push:
    branch: str
    commit: str
    message: str
    pipeline: bool  # whether Bitbucket starts a pipeline for this push


def starts_pipeline(branch: str, message: str, triggers: Sequence[str]) -> bool:
    """triggers: the start conditions of the repository's bitbucket-pipelines.yml: DEFAULT and `branches:`
    glob patterns. Only the push's head commit counts ("The build was not triggered for a particular commit",
    support.atlassian.com/bitbucket-cloud/kb/the-build-was-not-triggered-for-a-particular-commit); a /src
    commit or a merge is a push of one commit."""
    if any(label in message for label in SKIP_LABELS):
        return False
    patterns = [t for t in triggers if t != DEFAULT]
    return any(branch_matches(p, branch) for p in patterns) or DEFAULT in triggers


def branch_matches(pattern: str, branch: str) -> bool:
    """`*` matches within one path segment, `**` across `/` ("Use glob patterns on the Pipelines yaml file",
    support.atlassian.com/bitbucket-cloud/docs/use-glob-patterns-on-the-pipelines-yaml-file/)."""
    regex = "".join(
        ".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
        for part in re.split(r"(\*\*|\*)", pattern)
    )
    return re.fullmatch(regex, branch) is not None

"""A local Bitbucket Cloud held to Atlassian's published API spec (test-only).

    from fakes.bitbucket import FakeBitbucket
    with FakeBitbucket() as bb:          # serves on 127.0.0.1, a free port
        bb.url                           # -> BITBUCKET_API_URL, e.g. http://127.0.0.1:PORT/2.0

or as a process: ``python -m fakes.bitbucket --port 8700`` (run with test/ on sys.path).
"""

from fakes.bitbucket.server import (
    DEFAULT_EMAIL,
    DEFAULT_REPO,
    DEFAULT_TOKEN,
    DEFAULT_WORKSPACE,
    FakeBitbucket,
    FaultRule,
)
from fakes.bitbucket.state import ALL_SCOPES

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_EMAIL",
    "DEFAULT_REPO",
    "DEFAULT_TOKEN",
    "DEFAULT_WORKSPACE",
    "FakeBitbucket",
    "FaultRule",
]

"""The only code that speaks the Bitbucket Cloud 2.0 API.

``BitbucketClient`` maps each operation the modes need onto a route of Atlassian's published API
(see ``../shared/specs/bitbucket-cloud-openapi.json``; the operations it calls are pipe/bitbucket/scopes.py),
one module per area: runners, comments, pullrequests, source, reports (Downloads and Code Insights), over
api.py (the shared transport and the rule for lost POST answers); ``http.Transport`` does auth, timeouts,
retries, pagination and the one-line error messages.
"""

from __future__ import annotations

from pipe.bitbucket.api import DEFAULT_API_URL
from pipe.bitbucket.auth import Auth
from pipe.bitbucket.comments import CommentsApi
from pipe.bitbucket.errors import BitbucketError, UnexpectedAnswer
from pipe.bitbucket.pullrequests import PullRequestsApi
from pipe.bitbucket.reports import ReportsApi
from pipe.bitbucket.runners import RunnersApi
from pipe.bitbucket.source import SourceApi

__all__ = ["DEFAULT_API_URL", "Auth", "BitbucketClient", "BitbucketError", "UnexpectedAnswer"]


class BitbucketClient(RunnersApi, CommentsApi, PullRequestsApi, SourceApi, ReportsApi):
    """Bitbucket Cloud for one repository (and its workspace's runners), every area the pipe uses."""

"""Bitbucket credentials as the Authorization header: a Bearer access token, or Basic email + API token."""

from __future__ import annotations

import base64

from pipe.bitbucket.errors import BitbucketError


class Auth:
    """Bearer access token, or Basic Atlassian account email + API token."""

    def __init__(self, *, access_token: str = "", email: str = "", api_token: str = "") -> None:
        if access_token:
            self._header = f"Bearer {access_token}"
            self._secrets: tuple[str, ...] = (access_token,)
            self.variable = "BITBUCKET_ACCESS_TOKEN"
        elif email and api_token:
            basic = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
            self._header = f"Basic {basic}"
            self._secrets = (api_token, basic)
            self.variable = "ATLASSIAN_API_TOKEN"
        else:
            raise BitbucketError(
                "No Bitbucket credentials: set BITBUCKET_ACCESS_TOKEN, "
                "or ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN"
            )

    @property
    def header(self) -> str:
        """The Authorization header value."""
        return self._header

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in a log line or an error message."""
        return self._secrets

    @property
    def kind(self) -> str:
        return "bearer" if self._header.startswith("Bearer ") else "basic"

    def __repr__(self) -> str:
        return f"Auth({self.variable}=***)"

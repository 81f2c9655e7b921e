"""The one exception type the Bitbucket layer raises."""

from __future__ import annotations


class BitbucketError(Exception):
    """A failed API call; str() is one line that says what to fix, and never holds a secret."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

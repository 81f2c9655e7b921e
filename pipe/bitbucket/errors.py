"""The exception types the Bitbucket layer raises: every one is a BitbucketError."""

from __future__ import annotations


class BitbucketError(Exception):
    """A failed API call; str() is one line that says what to fix, and never holds a secret."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UncertainWrite(BitbucketError):
    """A POST failed after it may have reached Bitbucket (a timeout, a 5xx, a dropped connection).

    It is not sent again blindly: a second runner or an identical second comment would follow. The
    client looks for what the POST would have created first (BitbucketClient._create).
    """


class UnexpectedAnswer(BitbucketError):
    """Bitbucket answered a call with a body of the wrong shape (HTML, a list for an object, no id, ...)."""

"""The pipe's one error root.

Every failure the user can act on derives from PipeError: its str() is the one line the entry point prints
(exit 1, no traceback). The layers keep their own subclasses (ConfigError for a variable, ProviderError for a
cloud, BitbucketError for the API, ReportError, PrError, RunnerFailure, ...), so a caller can still catch
one layer's failures, and the entry point catches them all by this class, never by where a class is defined.
Any other exception is a bug in the pipe (pipe/pipe.py says so, and asks the user to report it).
"""

from __future__ import annotations

# A pasted file or script as a value would swamp the one-line error.
MAX_SHOWN_VALUE = 80


class PipeError(Exception):
    """A failure the user can act on; str() is one line that says what to fix and never holds a secret."""


def invalid(variable: str, value: str, allowed: str, *, secret: bool = False) -> str:
    """The one line for a value the pipe cannot use: `NAME: 'value' is not valid; what is allowed`."""
    return f"{variable}: {shown_value(value, secret=secret)} is not valid; {allowed}"


def shown_value(value: str, *, secret: bool = False) -> str:
    """repr() keeps the line single (newlines and escape codes show escaped); long values are cut."""
    if secret:
        return "<hidden>"
    if len(value) > MAX_SHOWN_VALUE:
        return repr(value[:MAX_SHOWN_VALUE]) + f"... ({len(value)} characters)"
    return repr(value)

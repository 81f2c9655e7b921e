"""The pipe's one error root.

Every failure the user can act on derives from PipeError: its str() is the one line the entry point prints
(exit 1, no traceback). The layers keep their own subclasses (ConfigError for a variable, ProviderError for a
cloud, BitbucketError for the API, ReportError, PrError, RunnerFailure, ...), so a caller can still catch
one layer's failures, and the entry point catches them all by this class, never by where a class is defined.
Any other exception is a bug in the pipe (pipe/pipe.py says so, and asks the user to report it).
"""

from __future__ import annotations


class PipeError(Exception):
    """A failure the user can act on; str() is one line that says what to fix and never holds a secret."""

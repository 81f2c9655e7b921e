"""Runner mode's and the sweep's own failures, after whatever they created was undone."""

from __future__ import annotations

from pipe.errors import PipeError


class RunnerFailure(PipeError):
    """Runner mode failed after rolling back; str() is the one line shown."""


class SweepFailure(PipeError):
    """The sweep could not do what it decided; str() is the one line shown."""

"""COMMAND: bake's own failures, after whatever it created was undone."""

from __future__ import annotations

from pipe.errors import PipeError


class BakeFailure(PipeError):
    """The bake failed (after its rollback) or cannot run; str() is the one line shown."""

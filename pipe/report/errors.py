"""Report mode's own failures: a report, target or preview the pipe cannot use, named by its variable."""

from __future__ import annotations

from pipe.errors import PipeError, invalid


class ReportError(PipeError):
    """The report cannot go where it was asked to, or cannot be read or written; str() says what to fix."""

    @classmethod
    def invalid(cls, variable: str, value: str, why: str) -> ReportError:
        return cls(invalid(variable, value, why))

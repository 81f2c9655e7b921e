"""Declaring pipe variables once: the Cerberus schema and the README table come from here.

Each mode's config module (pipe/config/runner.py, report.py, pr.py) declares a
tuple of Variable and a load() that turns the environment into typed settings.
Every variable is a Cerberus 'string' so the toolkit never YAML-parses a value
(a bad value would otherwise end in a traceback); our own parsers validate and
raise ConfigError with one line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

# A pasted file or script as a value would swamp the one-line error.
MAX_SHOWN_VALUE = 80


class ConfigError(Exception):
    """Bad input. str() is the one line the user sees; it never contains a secret value.

    repr() of the value keeps the line single (newlines and escape codes show
    escaped); message= replaces the standard wording for errors that are not
    about one bad value (a missing variable, two conflicting ones).
    """

    def __init__(
        self, variable: str, value: str, allowed: str, *, secret: bool = False, message: str | None = None
    ) -> None:
        if message is None:
            message = f"{variable}: {shown_value(value, secret=secret)} is not valid; {allowed}"
        super().__init__(message.replace("\r", " ").replace("\n", " "))
        self.variable = variable

    @classmethod
    def missing(cls, variable: str, hint: str) -> ConfigError:
        return cls(variable, "", hint, message=f"{variable} is required: {hint}")

    @classmethod
    def conflict(cls, first: str, second: str, hint: str) -> ConfigError:
        return cls(first, "", hint, message=f"{first} and {second} cannot both be set: {hint}")


def shown_value(value: str, *, secret: bool = False) -> str:
    if secret:
        return "<hidden>"
    if len(value) > MAX_SHOWN_VALUE:
        return repr(value[:MAX_SHOWN_VALUE]) + f"... ({len(value)} characters)"
    return repr(value)


@dataclass(frozen=True)
class Variable:
    name: str
    description: str  # one sentence for the README's Variables table
    default: str = ""  # as documented; empty = no default
    required: bool = False  # required for its mode (checked by load(), not by Cerberus)
    secret: bool = False  # never printed, masked in logs
    modes: tuple[str, ...] = ("runner",)  # commands that read it; ("all",) for every command
    example: str = "'<string>'"  # placeholder for the README's YAML Definition
    # Set by Bitbucket Pipelines itself (BITBUCKET_*): read, never shown in the YAML Definition.
    context: bool = False
    # A test or local-demo override, listed apart in the README.
    testing: bool = False
    # Modes among `modes` where a required variable is optional (REPORT_FILE in pr mode).
    optional_in: tuple[str, ...] = ()
    # A secret whose value may span lines (a key file's JSON). Every other secret is one token: whitespace or a
    # control character in it is refused at load (pipe/config/common.py check_tokens).
    multiline: bool = False

    def is_required(self, mode: str) -> bool:
        return self.required and mode not in self.optional_in


def cerberus_schema(variables: tuple[Variable, ...]) -> dict[str, dict[str, object]]:
    """Every variable as an optional string: validation is ours, see module docstring."""
    return {v.name: {"type": "string", "required": False, "nullable": True} for v in variables}

"""Declaring pipe variables once: the Cerberus schema and the README table come from here.

Each mode's config module (pipe/config/runner.py, report.py, pr.py) declares a
tuple of Variable and a load() that turns the environment into typed settings.
Every variable is a Cerberus 'string' so the toolkit never YAML-parses a value
(a bad value would otherwise end in a traceback); our own parsers validate and
raise ConfigError with one line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipe.errors import PipeError, invalid, shown_value


class ConfigError(PipeError):
    """Bad input. str() is the one line the user sees; it never contains a secret value.

    repr() of the value keeps the line single (newlines and escape codes show
    escaped); message= replaces the standard wording for errors that are not
    about one bad value (a missing variable, two conflicting ones).
    """

    def __init__(
        self, variable: str, value: str, allowed: str, *, secret: bool = False, message: str | None = None
    ) -> None:
        if message is None:
            message = invalid(variable, value, allowed, secret=secret)
        super().__init__(message.replace("\r", " ").replace("\n", " "))
        self.variable = variable

    @classmethod
    def missing(cls, variable: str, hint: str) -> ConfigError:
        return cls(variable, "", hint, message=f"{variable} is required: {hint}")

    @classmethod
    def conflict(cls, first: str, second: str, hint: str) -> ConfigError:
        return cls(first, "", hint, message=f"{first} and {second} cannot both be set: {hint}")


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
    # Not a secret to mask everywhere, but never printed in the settings lines: user data (a startup script).
    private: bool = False

    def is_required(self, mode: str) -> bool:
        return self.required and mode not in self.optional_in


def cerberus_schema(variables: tuple[Variable, ...]) -> dict[str, dict[str, object]]:
    """Every variable as an optional string: validation is ours, see module docstring."""
    return {v.name: {"type": "string", "required": False, "nullable": True} for v in variables}


def settings_lines(variables: tuple[Variable, ...], env: Mapping[str, str]) -> list[str]:
    """`NAME: value` for each variable the user set (not Bitbucket's own BITBUCKET_* context), in declaration
    order: a secret as <hidden>, user data by its size only, anything else as repr() cut to one short line."""
    lines = []
    for variable in variables:
        value = env.get(variable.name, "")
        if variable.context or not value.strip():
            continue
        if variable.private and not variable.secret:
            shown = f"<{len(value)} characters, not shown>"
        else:
            shown = shown_value(value, secret=variable.secret)
        lines.append(f"{variable.name}: {shown}")
    return lines

"""Declaring pipe variables once: the Cerberus schema and the README table come from here.

Each mode's config module (pipe/config/runner.py, report.py, pr.py) declares a
tuple of Variable and a load() that turns the environment into typed settings.
Every variable is a Cerberus 'string' so the toolkit never YAML-parses a value
(a bad value would otherwise end in a traceback); our own parsers validate and
raise ConfigError with one line naming the variable, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass


class ConfigError(Exception):
    """Bad input. str() is the one line the user sees; it never contains a secret value."""

    def __init__(self, variable: str, value: str, allowed: str, *, secret: bool = False) -> None:
        shown = "<hidden>" if secret else repr(value)
        super().__init__(f"{variable}: {shown} is not valid; {allowed}")
        self.variable = variable


@dataclass(frozen=True)
class Variable:
    name: str
    description: str  # one sentence for the README's Variables table
    default: str = ""  # as documented; empty = no default
    required: bool = False  # required for its mode (checked by load(), not by Cerberus)
    secret: bool = False  # never printed, masked in logs
    modes: tuple[str, ...] = ("runner",)  # commands that read it; ("all",) for every command
    example: str = "'<string>'"  # placeholder for the README's YAML Definition


def cerberus_schema(variables: tuple[Variable, ...]) -> dict[str, dict[str, object]]:
    """Every variable as an optional string: validation is ours, see module docstring."""
    return {v.name: {"type": "string", "required": False, "nullable": True} for v in variables}

"""Pipe variables -> typed settings, one module per mode.

CONFIG_MODULES is the one list of modules whose VARIABLES make up the pipe's
contract: the Cerberus schema, the README's Variables table and the secrets
to mask all come from ALL_VARIABLES. A mode's module that is not written yet
is skipped, so the pipe and its docs work while modes land one by one.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pipe.config.variables import ConfigError, Variable, cerberus_schema

CONFIG_MODULES = (
    "pipe.config.common",
    "pipe.config.runner",
    "pipe.config.cap",
    "pipe.config.clouds",
    "pipe.config.kubernetes",
    "pipe.config.report",
    "pipe.config.pr",
    "pipe.config.spot",
)

# Which settings module each COMMAND loads after the common settings (sweep and bake reuse runner's cloud settings).
COMMAND_CONFIG = {
    "runner": "pipe.config.runner",
    "report": "pipe.config.report",
    "pr": "pipe.config.pr",
    "sweep": "pipe.config.runner",
    "restore": "pipe.config.spot",  # CHECKPOINT_PATH, CHECKPOINT_STORE (spot recovery)
    "bake": "pipe.config.runner",  # CLOUD, CLOUD_REGION, CLOUD_TYPE, CLOUD_GPU, CLOUD_IMAGE and the cloud options
}


def optional_module(name: str) -> ModuleType | None:
    """The module, or None if that module itself does not exist (a missing dependency inside it still raises)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name == name:
            return None
        raise


def all_variables() -> tuple[Variable, ...]:
    seen: dict[str, Variable] = {}
    for name in CONFIG_MODULES:
        module = optional_module(name)
        for variable in getattr(module, "VARIABLES", ()):
            seen.setdefault(variable.name, variable)
    return tuple(seen.values())


def schema() -> dict[str, dict[str, object]]:
    return cerberus_schema(all_variables())


def __getattr__(name: str) -> object:
    # Lazy, so importing one mode's config never imports (or breaks on) another mode's module.
    if name == "ALL_VARIABLES":
        return all_variables()
    raise AttributeError(name)


__all__ = ["COMMAND_CONFIG", "CONFIG_MODULES", "ConfigError", "Variable", "all_variables", "schema"]

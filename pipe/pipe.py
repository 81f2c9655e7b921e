"""Entry point: validate the variables, then dispatch on COMMAND to pipe/commands/<command>.py.

The dispatch contract, for every command module pipe/commands/<command>.py:

    def run(common: CommonSettings, settings: <ModeSettings>, *, log: logging.Logger,
            env: Mapping[str, str]) -> str | None

settings is what pipe.config.COMMAND_CONFIG[command].load(env) returned (sweep
gets RunnerSettings). run() returns the success line (None: a default one) or
raises. An exception whose class is defined in the pipe package (ConfigError,
BitbucketError, ProviderError, CatalogError, PrError, PipeFailure, ...) is a
user-facing error: its str() is printed as the one failure line, exit code 1.
Anything else is a bug: 'internal error: ...', traceback only with DEBUG.

Run as `python -m pipe`, `python3 pipe/pipe.py` or the Docker ENTRYPOINT.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: sys.path[0] is pipe/, where pipe.py would shadow the package.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bitbucket_pipes_toolkit import Pipe, fail, success

from pipe import log as redaction
from pipe.config import COMMAND_CONFIG, all_variables, optional_module
from pipe.config.common import COMMANDS
from pipe.config.common import load as load_common
from pipe.config.parsers import TRUE
from pipe.config.variables import cerberus_schema

PIPE_YML = Path(__file__).resolve().parent.parent / "pipe.yml"
LOGGER_NAME = "cml-runner"
# Values of these look like credentials even when no Variable declares them (an SDK's own variables).
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PRIVATE_KEY|API_KEY|CREDENTIALS|KEY_FILE)", re.IGNORECASE)


class PipeFailure(Exception):
    """A command failed in a way the user can act on; str() is the one line shown."""


class CmlRunnerPipe(Pipe):
    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(
            pipe_metadata=_metadata(),
            schema=cerberus_schema(all_variables()),
            env=dict(env),
            logger=logging.getLogger(),
            check_for_newer_version=False,  # a network call at every start; pipes are pinned by version anyway
        )
        self.raw_env = env

    def enable_debug_log_level(self) -> None:
        # The toolkit tests truthiness, and the string 'false' is truthy.
        if _debug_requested(self.env):
            logging.getLogger().setLevel(logging.DEBUG)

    def run(self) -> str:
        common = load_common(self.raw_env)
        for warning in common.warnings:
            self.log_warning(warning)
        settings = _load_mode_settings(common.command, self.raw_env)
        log = logging.getLogger(LOGGER_NAME)
        # DRY_RUN shows what the pipe understood; the command then shows its plan.
        log.log(logging.INFO if common.dry_run else logging.DEBUG, "settings: %r %r", common, settings)
        module = _command_module(common.command)
        message = module.run(common, settings, log=log, env=self.raw_env)
        return str(message) if message else f"{common.command} finished"


def _metadata() -> dict[str, object]:
    import yaml  # the toolkit's dependency; parsed here so a missing pipe.yml is not fatal

    try:
        loaded = yaml.safe_load(PIPE_YML.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _debug_requested(env: Mapping[str, str]) -> bool:
    return env.get("DEBUG", "").strip().lower() in TRUE


def _not_available(command: str) -> PipeFailure:
    built = [c for c in COMMANDS if _has_command(c)]
    available = ", ".join(built) or "none"
    return PipeFailure(f"COMMAND: {command!r} is not available in this version of the pipe yet; available: {available}")


def _has_command(command: str) -> bool:
    module = optional_module(f"pipe.commands.{command}")
    config = optional_module(COMMAND_CONFIG[command])
    return callable(getattr(module, "run", None)) and callable(getattr(config, "load", None))


def _load_mode_settings(command: str, env: Mapping[str, str]) -> object:
    config = optional_module(COMMAND_CONFIG[command])
    load = getattr(config, "load", None)
    if not callable(load):
        raise _not_available(command)
    return load(env)


def _command_module(command: str) -> Any:
    module = optional_module(f"pipe.commands.{command}")
    if not callable(getattr(module, "run", None)):
        raise _not_available(command)
    return module


def is_user_error(err: BaseException) -> bool:
    """Exceptions the pipe defines carry a message for the user; builtins (KeyError, ...) are bugs."""
    return any(cls.__module__.startswith("pipe.") for cls in type(err).__mro__)


def one_line(text: str) -> str:
    return " ".join(redaction.redact(text).split()) or "failed"


def register_env_secrets(env: Mapping[str, str]) -> None:
    secret_names = {v.name for v in all_variables() if v.secret}
    for name, value in env.items():
        if name in secret_names:
            redaction.register_secret(value)
        elif _SECRET_NAME.search(name) and not os.path.exists(value):
            # Guessed from the name only: a path to a key file (GOOGLE_APPLICATION_CREDENTIALS,
            # AWS_SHARED_CREDENTIALS_FILE=/dev/null) is not the secret, and masking it hides ordinary text.
            redaction.register_secret(value)


def quiet_sdks() -> None:
    """The cloud SDKs' own chatter is not the user's business, DEBUG or not: Azure logs every HTTP request
    at INFO, botocore's DEBUG prints response bodies with credentials (pipe/log.py SDK_LOGGERS), and
    google.api_core warns about the Python version it will stop supporting."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")
    redaction.quiet_sdk_loggers()


def main(env: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if env is None else env)
    redaction.install()
    debug = _debug_requested(environ)
    quiet_sdks()
    try:
        register_env_secrets(environ)
        pipe = CmlRunnerPipe(environ)
        message = pipe.run()
    except SystemExit as exit_:
        # The toolkit's fail() has printed its message already.
        return exit_.code if isinstance(exit_.code, int) else 1
    except KeyboardInterrupt:
        fail("interrupted", do_exit=False)
        return 1
    except Exception as err:  # noqa: BLE001  # the one place that turns any failure into one line
        if is_user_error(err):
            fail(one_line(str(err)), do_exit=False)
        else:
            if debug:
                sys.stderr.write(redaction.redact(traceback.format_exc()))
            fail(one_line(f"internal error: {type(err).__name__}: {err}"), do_exit=False)
        return 1
    finally:
        sys.stderr.flush()
        sys.stdout.flush()
    success(one_line(message), do_exit=False)
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    # Delegate to the package module so `except PipeFailure` and command modules see the same classes.
    from pipe.pipe import entry as package_entry

    package_entry()

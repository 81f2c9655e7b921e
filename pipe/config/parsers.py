"""Text -> typed value, for every kind of pipe variable.

Each parser takes the variable's name and raw text and either returns the value
or raises ConfigError naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pipe import paths
from pipe.config.variables import ConfigError

TRUE = frozenset({"true", "yes", "1", "on"})
FALSE = frozenset({"false", "no", "0", "off"})

NEVER = "never"
_DURATION_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_DURATION_PART = re.compile(r"\s*(\d+)\s*([a-z]+)\s*")
DURATION_HELP = "a whole number of seconds or a duration like 30s, 5min, 2h, 1h30m"

# Runner labels, as Bitbucket's runner UI enforces them (../shared/CONTRACT-NOTES.md, LABELS, corrected):
# lowercase letters and digits in dot-separated parts, at most 10 custom labels besides self.hosted and linux,
# none under a reserved prefix. Bitbucket's pipelines schema (check-jsonschema's vendored
# bitbucket-pipelines.json, `runs_on_item`) caps a label at 50 characters. Sources: docs/sources.md.
RUNNER_LABEL = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")
MAX_LABEL_LENGTH = 50
MAX_CUSTOM_LABELS = 10
RESERVED_LABEL_PREFIXES = ("linux.", "bitbucket.", "atlassian.")
ALWAYS_LABELS = ("self.hosted", "linux")
# Labels Bitbucket gives other runner types (linux.shell, linux.arm64 fall under the reserved prefix):
# on our Linux Docker runner they would route steps wrongly.
OTHER_RUNNER_TYPES = frozenset({"windows", "macos"})
LABEL_RULE = "lowercase letters and digits in dot-separated parts (cml.gpu, not cml-gpu), 1-50 characters"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def parse_bool(name: str, value: str, default: bool = False) -> bool:
    low = value.strip().lower()
    if not low:
        return default
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ConfigError(name, value, "use true or false")


def parse_choice(name: str, value: str, choices: Iterable[str], default: str) -> str:
    options = tuple(choices)
    low = value.strip().lower() or default
    if low not in options:
        raise ConfigError(name, value, f"use one of {', '.join(options)}")
    return low


def parse_duration(name: str, value: str, *, default: str, allow_never: bool, max_s: int) -> int | None:
    """Seconds, or None for 'never'. CML's -1 and 0 also mean never, as its idle watcher treats them."""
    text = value.strip().lower() or default
    allowed = DURATION_HELP + (", or never" if allow_never else "") + f"; at most {max_s // 3600}h"
    if allow_never and text in (NEVER, "-1", "0"):
        return None
    if text.isdigit():
        seconds = int(text)
    else:
        seconds = 0
        position = 0
        for match in _DURATION_PART.finditer(text):
            unit = _DURATION_UNITS.get(match.group(2))
            if match.start() != position or unit is None:
                raise ConfigError(name, value, allowed)
            seconds += int(match.group(1)) * unit
            position = match.end()
        if position != len(text) or position == 0:
            raise ConfigError(name, value, allowed)
    if seconds <= 0 or seconds > max_s:
        raise ConfigError(name, value, allowed)
    return seconds


def parse_finite_duration(name: str, value: str, *, default: str, max_s: int) -> int:
    seconds = parse_duration(name, value, default=default, allow_never=False, max_s=max_s)
    if seconds is None:  # unreachable with allow_never=False; keeps the type exact
        raise ConfigError(name, value, DURATION_HELP)
    return seconds


def parse_int(name: str, value: str, *, default: int, minimum: int, maximum: int, unit: str = "") -> int:
    text = value.strip()
    allowed = f"a whole number{' of ' + unit if unit else ''} from {minimum} to {maximum}"
    if not text:
        return default
    if not re.fullmatch(r"\+?\d+", text):
        raise ConfigError(name, value, allowed)
    number = int(text)
    if not minimum <= number <= maximum:
        raise ConfigError(name, value, allowed)
    return number


def parse_positive_float(name: str, value: str, allowed: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ConfigError(name, value, allowed) from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(name, value, allowed)
    return number


def label_problem(label: str) -> str:
    """Why Bitbucket would refuse label as a runner label, or "" when it is fine."""
    if len(label) > MAX_LABEL_LENGTH or not RUNNER_LABEL.match(label):
        return f"label {label!r}: use {LABEL_RULE}"
    prefix = next((p for p in RESERVED_LABEL_PREFIXES if label.startswith(p)), "")
    if prefix:
        return f"label {label!r}: labels starting with {prefix!r} are Bitbucket's own"
    if label in OTHER_RUNNER_TYPES:
        return f"label {label!r} belongs to another runner type; these runners are linux"
    return ""


def parse_labels(name: str, value: str, default: str, *, pipe_labels: int = 0) -> tuple[str, ...]:
    """self.hosted and linux first (every step routed here needs them), then the user's labels, deduplicated.

    pipe_labels: how many labels the pipe adds of its own; they count against Bitbucket's limit too.
    """
    text = value if value.strip() else default
    labels: list[str] = list(ALWAYS_LABELS)
    given = [item.strip() for item in text.split(",")]
    if not any(given):
        raise ConfigError(name, value, "a comma-separated list of labels, e.g. cml.runner,cml.gpu")
    for label in given:
        if not label:
            continue  # a stray or trailing comma
        problem = label_problem(label)
        if problem:
            raise ConfigError(name, value, problem)
        if label not in labels:
            labels.append(label)
    allowed = MAX_CUSTOM_LABELS - pipe_labels
    custom = len(labels) - len(ALWAYS_LABELS)
    if custom > allowed:
        mine = f" (Bitbucket allows {MAX_CUSTOM_LABELS}; the pipe adds {pipe_labels} of its own)" if pipe_labels else ""
        raise ConfigError(name, value, f"at most {allowed} labels besides self.hosted and linux{mine}; {custom} given")
    return tuple(labels)


def parse_metadata(name: str, value: str, reserved_prefix: str) -> dict[str, str]:
    """key=value pairs separated by commas or newlines; the cloud adapters sanitise them per cloud."""
    result: dict[str, str] = {}
    for item in re.split(r"[,\n]", value):
        item = item.strip()
        if not item:
            continue
        key, sep, val = item.partition("=")
        key, val = key.strip(), val.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,62}", key):
            raise ConfigError(
                name,
                value,
                f"entry {item!r}: use key=value pairs separated by commas; keys of up to 63 letters, "
                "digits, '.', '_', '-', ':', '/', '@', '+'",
            )
        if key.lower().startswith(reserved_prefix):
            raise ConfigError(name, value, f"key {key!r}: keys starting with {reserved_prefix!r} are the pipe's own")
        if len(val) > 256 or _CONTROL.search(val):
            raise ConfigError(name, value, f"value of {key!r}: up to 256 printable characters")
        result[key] = val
    return result


def decode_startup_script(name: str, value: str, max_bytes: int) -> str:
    """CML takes the script base64-encoded; we accept that or plain text.

    Text counts as base64 only if it decodes strictly to printable UTF-8, so a
    plain script is never mistaken for base64 (plain shell is almost never
    valid base64 that decodes to readable text).
    """
    if not value.strip():
        return ""
    compact = "".join(value.split())
    script = value
    if len(compact) % 4 == 0 and _BASE64.match(compact):
        try:
            decoded = base64.b64decode(compact, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if decoded and not _CONTROL.search(decoded):
            script = decoded
    if "\x00" in script:
        raise ConfigError(name, value, "a shell script as text or base64; it contains a NUL byte")
    size = len(script.encode("utf-8"))
    if size > max_bytes:
        raise ConfigError(
            name, value, f"at most {max_bytes} bytes ({size} given): cloud user data is small; fetch bigger scripts"
        )
    return script


def check_text(name: str, value: str, *, max_length: int, pattern: str | None = None, allowed: str = "") -> str:
    """Free text that ends up in an API call: one line, bounded, optionally matching pattern."""
    text = value.strip()
    if len(text) > max_length or _CONTROL.search(text) or "\n" in text:
        raise ConfigError(name, value, allowed or f"one line of at most {max_length} characters")
    if text and pattern is not None and not re.fullmatch(pattern, text):
        raise ConfigError(name, value, allowed)
    return text


def clone_dir_of(env: Mapping[str, str]) -> Path:
    """Where user paths are relative to: the clone (BITBUCKET_CLONE_DIR), else the working directory."""
    return Path(env.get("BITBUCKET_CLONE_DIR", "").strip() or os.getcwd())


def parse_clone_file(name: str, value: str, clone_dir: Path, *, must_exist: bool = True) -> paths.ClonePath:
    """A path variable: a regular file inside the clone, outside .git, after symlinks (pipe/paths.py)."""
    try:
        return paths.resolve(clone_dir, value, must_exist=must_exist)
    except paths.PathRefused as why:
        raise ConfigError(
            name, value, f"{why}; give a regular file inside the clone directory {clone_dir}, as a relative path"
        ) from None


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1: traffic that never leaves the machine, so plain http is no risk there."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_endpoint(name: str, value: str, *, example: str, pattern: str | None = None) -> str:
    """An API base URL override: http(s), a host, no user info; plain http:// only for a loopback host.

    A token or cloud key sent over http to another host is readable on the way (CONTRACT-NOTES: origins).
    """
    allowed = f"an http(s) URL such as {example}"
    text = check_text(name, value, max_length=300, pattern=pattern, allowed=allowed)
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigError(name, value, allowed) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ConfigError(name, value, f"{allowed}, with no user name or password in it")
    if parts.query or parts.fragment:
        raise ConfigError(name, value, f"{allowed}, with no ?query or #fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            name, value, "plain http:// is accepted only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://"
        )
    return text.rstrip("/")

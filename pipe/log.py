"""Secret redaction for everything the pipe prints.

Secrets reach output in ways no single call site controls: a toolkit fail()
message, an SDK's debug log, a traceback under DEBUG, a repr() of a settings
object. So redaction sits at the two exits instead: sys.stdout/sys.stderr are
wrapped and every logging handler gets a filter. Any module that learns a
secret at run time (a runner's OAuth client secret, a cloud session token)
calls register_secret() before the value can reach a log line.
"""

from __future__ import annotations

import base64
import logging
import sys
import threading
import urllib.parse
from typing import Any, TextIO

MASK = "********"
# Shorter values would mask ordinary words and digits everywhere in the output.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask value (and its URL-encoded and base64 forms) in all output from now on."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, value.strip(), urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    # A token pasted into a Basic header or a base64 variable still leaks as base64.
    forms.add(base64.b64encode(value.encode()).decode().rstrip("="))
    with _lock:
        _secrets.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)


def registered_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def forget_secrets() -> None:
    """For tests: start from an empty registry."""
    with _lock:
        _secrets.clear()


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        # Longest first so a secret that contains another is masked whole.
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingStream:
    """A text stream wrapper that masks secrets in whatever is written through it.

    Lines are buffered until their newline so a secret split across two write()
    calls (print() writes the text and the end separately) is still masked.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self._stream.write(redact(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(redact(self._pending))
            self._pending = ""
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it (covers handlers with their own streams)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  # a broken log call must not kill the pipe
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_installed = False


def install() -> None:
    """Wrap stdout/stderr and filter every root handler. Call after the toolkit import (it re-wraps streams)."""
    global _installed
    if _installed:
        return
    _installed = True
    out, err = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    redacting_filter = RedactingFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting_filter)
        if isinstance(handler, logging.StreamHandler):
            if handler.stream is sys.stderr:
                handler.setStream(err)
            elif handler.stream is sys.stdout:
                handler.setStream(out)
    sys.stdout, sys.stderr = out, err
    # Child loggers' records reach root handlers, whose filter masks them; loggers
    # with their own handlers (set up later by an SDK) still write through the wrapped streams.
    logging.lastResort = logging.StreamHandler(err)
    logging.lastResort.addFilter(redacting_filter)

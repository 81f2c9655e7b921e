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
    forms.update(base64_forms(value.encode()))
    with _lock:
        _secrets.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)


def base64_forms(secret: bytes) -> set[str]:
    """What the secret looks like inside any base64 text, whatever byte offset it starts at.

    base64 turns each 3 bytes into 4 characters, so a secret embedded in a larger blob (user data, a
    Basic header, a key file) encodes differently for each of the 3 offsets it can start at modulo 3.
    For each offset, the characters that depend on the secret's bytes alone are the ones from
    ceil(8*offset/6) to floor(8*(offset+n)/6): the edges mix in the neighbouring bytes and are left out.
    Both alphabets: standard (+/) and URL-safe (-_).
    """
    forms: set[str] = set()
    n = len(secret)
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret + bytes(3))
        first, last = -(-8 * offset // 6), (8 * (offset + n)) // 6
        middle = encoded[first:last].decode("ascii")
        forms.update({middle, middle.replace("+", "-").replace("/", "_")})
    return forms


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


# Cloud SDK and HTTP library loggers: at DEBUG they print request and response bodies and headers (botocore
# prints the STS response with the temporary keys and x-amz-security-token; azure-core and urllib3 print
# headers; the kubernetes client's rest.py logs "response body: ..." of every call, a Secret's data included).
# They stay at WARNING even with DEBUG: the pipe's own DEBUG lines say what was called.
SDK_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "requests", "google", "googleapiclient", "azure",
               "msal", "msrest", "oauthlib", "requests_oauthlib", "httpx", "httpcore", "grpc",
               "kubernetes")  # fmt: skip


def is_sdk_record(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in SDK_LOGGERS)


def quiet_sdk_loggers() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record before any handler formats it (covers handlers with their own streams)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING and is_sdk_record(record.name):
            return False  # an SDK logger someone set back to DEBUG: its wire log never reaches the output
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

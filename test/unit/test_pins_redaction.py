"""Redaction (pipe/log.py) at the edges a mutation run (issue #20) probes: the shortest secret masked, a
secret inside base64 at every byte offset and in both alphabets, a secret split across writes, secret-named
fields, and SDK wire logs dropped below WARNING. Each test names the mutants it kills.
"""

from __future__ import annotations

import base64
import io
import logging
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.isolation import isolated_env

from pipe import log as redaction

MASK = redaction.MASK


@pytest.fixture(autouse=True)
def empty_registry() -> Iterator[None]:
    redaction.forget_secrets()
    yield
    redaction.forget_secrets()


def test_a_secret_of_the_minimum_length_is_masked_and_a_shorter_one_is_not() -> None:
    """Kills `len(value) < MIN_SECRET_LENGTH` turned into `<=` (a 4-character secret would leak) and the
    forms' own `len(f) >= MIN_SECRET_LENGTH` into `>` (the 4-character secret itself would be dropped)."""
    redaction.register_secret("abc")
    redaction.register_secret("Wx9z")
    assert redaction.redact("abc Wx9z") == f"abc {MASK}"
    redaction.register_secret(None)
    redaction.register_secret("")
    assert redaction.redact("") == ""


@pytest.mark.parametrize("before", [b"", b"x", b"xy", b"xyz", b"wxyz"])
def test_a_secret_inside_base64_is_masked_at_every_byte_offset_in_both_alphabets(before: bytes) -> None:
    """A token pasted into user data or a Basic header leaks as base64 whatever byte it starts at. Kills the
    offset arithmetic of base64_forms mutated (`-(-8 * offset // 6)`, `(8 * (offset + n)) // 6`,
    `range(3)`) and the URL-safe alphabet left out."""
    secret = "tok>?~en-Sec/ret+Value_9"  # bytes that encode to '+' and '/' at some offset
    redaction.register_secret(secret)
    blob = before + secret.encode() + b"<-after"
    # The base64 characters whose 6 bits all come from the secret's bytes: every one of them must be masked.
    bits = range(8 * len(before), 8 * (len(before) + len(secret)))
    pure = sum(1 for k in range(len(blob) * 4 // 3 + 4) if 6 * k in bits and 6 * k + 5 in bits)
    for encoded in (base64.b64encode(blob).decode(), base64.urlsafe_b64encode(blob).decode()):
        shown = redaction.redact(f"data={encoded}")
        assert shown.count(MASK) == 1, (before, encoded)
        visible = shown.replace(MASK, "")
        assert len(visible) <= len("data=") + len(encoded) - pure, (before, shown)
    assert redaction.redact(base64.b64encode(b"nothing secret here").decode()) == base64.b64encode(
        b"nothing secret here"
    ).decode()


def test_the_longest_secret_is_masked_whole_when_it_contains_another() -> None:
    """Kills the sort by length not reversed (`reverse=False`): the shorter one masked first would leave
    the rest of the longer one in the output."""
    redaction.register_secret("inner-secret")
    redaction.register_secret("outer-inner-secret-tail")
    assert redaction.redact("x outer-inner-secret-tail y") == f"x {MASK} y"


def test_secret_named_fields_are_masked_whatever_they_hold_and_only_those() -> None:
    """Kills SECRET_FIELD's use turned around (`not`), the `isinstance(key, str)` guard, and lists/strings
    not walked."""
    redaction.register_secret("registered-value")
    value = {
        "Authorization": "Bearer x",
        "client_SECRET": "s",
        "access_token": "t",
        "token_type": "bearer",  # 'token' only at the end of a name
        "password": "p",
        1: "registered-value",
        "items": ["registered-value", {"refresh_token": "r"}, 7],
    }
    assert redaction.redact_fields(value) == {
        "Authorization": MASK,
        "client_SECRET": MASK,
        "access_token": MASK,
        "token_type": "bearer",
        "password": MASK,
        1: MASK,
        "items": [MASK, {"refresh_token": MASK}, 7],
    }


def test_a_secret_split_across_writes_is_masked_and_the_unfinished_line_is_written_at_flush() -> None:
    """Kills the stream writing before the newline (`"\\n" in` turned into `not in`) and flush() dropping
    or not masking the pending text."""
    redaction.register_secret("split-secret-value")
    out = io.StringIO()
    stream = redaction.RedactingStream(out)
    assert stream.write("a split-sec") == len("a split-sec")
    stream.write("ret-value b\nc split-secret")
    assert out.getvalue() == f"a {MASK} b\n"
    stream.write("-value")
    stream.flush()
    assert out.getvalue() == f"a {MASK} b\nc {MASK}"
    stream.flush()
    assert out.getvalue() == f"a {MASK} b\nc {MASK}"


def record(name: str, level: int, msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom registered-value")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_sdk_wire_logs_below_warning_are_dropped_and_everything_else_is_masked() -> None:
    """Kills `levelno < logging.WARNING` turned into `<=` (an SDK's WARNING would vanish) or `>=`, the
    SDK-name check negated or loosened to any prefix ('googleish' is not 'google'), and args or the
    traceback left unmasked."""
    redaction.register_secret("registered-value")
    keep = redaction.RedactingFilter()
    assert not keep.filter(record("botocore.endpoint", logging.DEBUG, "wire"))
    assert not keep.filter(record("google", logging.INFO, "wire"))
    assert keep.filter(record("botocore.endpoint", logging.WARNING, "retry"))
    mine = record("googleish", logging.DEBUG, "key=%s", "registered-value")
    assert keep.filter(mine)
    assert (mine.getMessage(), mine.args) == (f"key={MASK}", None)
    failed = record("pipe", logging.ERROR, "failed", exc=True)
    assert keep.filter(failed)
    assert failed.exc_text and "boom" in failed.exc_text and "registered-value" not in failed.exc_text
    formatted = record("pipe", logging.ERROR, "again")
    formatted.exc_text = "Traceback: registered-value"
    keep.filter(formatted)
    assert formatted.exc_text == f"Traceback: {MASK}"


INSTALLED = r"""
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(message)s")
extra = ((logging.StreamHandler(sys.stdout), "OUT"), (logging.FileHandler(sys.argv[1]), "FILE"))
for handler, form in extra:
    handler.setFormatter(logging.Formatter(form + " %(message)s"))
    logging.getLogger().addHandler(handler)
from pipe import log
log.quiet_sdk_loggers()  # as pipe/pipe.py main does, before install()
log.install()
log.install()  # a second call changes nothing
log.register_secret("child-secret-value")
print("stdout child-secret-value")
sys.stderr.write("stderr child-secret-value\n")
logging.getLogger("pipe.x").info("logged %s", "child-secret-value")
late = logging.getLogger("late")
late.addHandler(logging.StreamHandler(sys.stdout))  # an SDK's own handler, added after install()
late.propagate = False
late.warning("late child-secret-value")
logging.getLogger("botocore.endpoint").debug("wire child-secret-value")
sdk = logging.getLogger("urllib3")  # an SDK logger with a handler of its own, outside the root's filter
sdk.addHandler(logging.StreamHandler(sys.stdout))
sdk.propagate = False
sdk.debug("wire from the sdk's own handler")
def leak():
    token = "child-secret-value"; logging.getLogger("pipe.x").info("with its stack", stack_info=True)
leak()  # the stack (its source line included) is added by the formatter, after the filter: the stream masks it
try:
    raise RuntimeError("boom child-secret-value")
except RuntimeError:
    logging.getLogger("pipe.x").exception("failed")
"""


def test_once_installed_every_exit_of_the_process_is_masked() -> None:
    """In a fresh process as the entry point does it (pipe/pipe.py main): print, sys.stderr, the logging
    handlers, a handler added later and a traceback all masked; an SDK's wire log dropped; each handler still
    writes where it did. Kills install() made a no-op (`_installed = True`), the handlers not filtered
    (`for handler in []`), the stream checks turned around (`is` / `is not`, `not ... is`, `not isinstance`),
    and quiet_sdk_loggers() doing nothing (`for name in []`)."""
    home = Path(tempfile.mkdtemp())
    (home / "child.py").write_text(INSTALLED)  # a file, so a stack shows its source lines
    proc = subprocess.run(
        [sys.executable, str(home / "child.py"), str(home / "pipe.log")], env=isolated_env(home), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "child-secret-value" not in out
    assert "wire" not in out
    for seen in (f"stdout {MASK}", f"stderr {MASK}", f"pipe.x logged {MASK}", f"late {MASK}", f"boom {MASK}"):
        assert seen in out, out
    # Each handler keeps its own destination: stdout's on stdout, stderr's on stderr, a file's in its file.
    assert f"OUT logged {MASK}" in proc.stdout and f"pipe.x logged {MASK}" in proc.stderr
    assert "FILE" not in out
    assert f'token = "{MASK}"' in proc.stderr  # the stack's source line
    assert f"FILE logged {MASK}" in (home / "pipe.log").read_text()


def test_a_broken_log_call_is_shown_as_written_not_raised() -> None:
    """A log call whose arguments do not fit its format must not stop the pipe mid-launch (before the
    rollback). Kills `except Exception` in RedactingFilter.filter narrowed to another exception."""
    redaction.register_secret("registered-value")
    broken = record("pipe.x", logging.INFO, "two %s %s for registered-value", "one")
    assert redaction.RedactingFilter().filter(broken)
    assert (broken.msg, broken.args) == (f"two %s %s for {MASK}", None)

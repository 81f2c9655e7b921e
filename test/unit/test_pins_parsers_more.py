"""More limits and spellings of pipe/config/parsers.py, pinned where a mutation run (issue #20) left mutants alive:
duration unit spellings, the length limits of free text, endpoints and startup scripts (the value allowed last and
the first refused), base64 detection, endpoint URLs a user could give, and blank items in lists. Every refusal is
a ConfigError (the one-line message), never another exception.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from pipe.config.parsers import (
    check_text,
    clone_dir_of,
    decode_startup_script,
    parse_clone_file,
    parse_duration,
    parse_endpoint,
    parse_finite_duration,
    parse_labels,
    parse_metadata,
)
from pipe.config.variables import ConfigError

DAY = 86400


def endpoint(value: str) -> str:
    return parse_endpoint("BITBUCKET_API_URL", value, example="https://api.bitbucket.org/2.0")


@pytest.mark.parametrize(
    ("unit", "per_unit"),
    [
        ("sec", 1),
        ("secs", 1),
        ("second", 1),
        ("seconds", 1),
        ("mins", 60),
        ("minute", 60),
        ("hr", 3600),
        ("hrs", 3600),
        ("hour", 3600),
        ("day", DAY),
        ("days", DAY),
    ],
)
def test_every_spelling_of_a_duration_unit_counts_its_own_seconds(unit: str, per_unit: int) -> None:
    """Kills NumberReplacer on the unit table, lines 28-31 (sec, secs, second, seconds: 1 -> 0/2), 34-35 (mins,
    minute: 60 -> 59/61), 38-40 (hr, hrs, hour: 3600 -> 3599/3601) and 43-44 (day, days: 86400 -> 86399/86401)."""
    assert parse_duration("IDLE_TIMEOUT", f"3{unit}", default="5min", allow_never=True, max_s=30 * DAY) == 3 * per_unit
    assert parse_duration("IDLE_TIMEOUT", f"1 {unit}", default="5min", allow_never=True, max_s=30 * DAY) == per_unit


def test_one_second_is_the_shortest_duration() -> None:
    """Kills line 105 NumberReplacer (`seconds <= 0` -> `seconds <= 1`)."""
    assert parse_finite_duration("WAIT_TIMEOUT", "1s", default="10min", max_s=7200) == 1
    assert parse_finite_duration("WAIT_TIMEOUT", "1", default="10min", max_s=7200) == 1


def test_never_is_offered_only_where_it_is_allowed_and_the_maximum_is_always_named() -> None:
    """Kills line 89 AddNot (`if allow_never` -> `if not allow_never`) and line 111 ReplaceFalseWithTrue
    (parse_finite_duration passing allow_never=True: `0` and `never` would then fail with the bare help, no
    maximum)."""
    with pytest.raises(ConfigError) as never_allowed:
        parse_duration("IDLE_TIMEOUT", "soon", default="5min", allow_never=True, max_s=30 * DAY)
    assert "or never" in str(never_allowed.value)
    assert "at most 720h" in str(never_allowed.value)
    for value in ("0", "never", "-1"):
        with pytest.raises(ConfigError) as finite:
            parse_finite_duration("MAX_LIFETIME", value, default="12h", max_s=30 * DAY)
        message = str(finite.value)
        assert "MAX_LIFETIME" in message
        assert "never" not in message.replace(repr(value), "")
        assert "at most 720h" in message


def test_free_text_is_one_line_of_at_most_max_length_characters() -> None:
    """Kills line 233 ReplaceComparisonOperator_Gt_GtE (`len(text) > max_length` -> `>=`), line 233
    ReplaceOrWithAnd #9 and #10 (the length, control-character and newline checks joined by `and`), line 234
    ReplaceOrWithAnd (the default message `allowed or f"one line ..."` -> `and`: an empty message)."""
    assert check_text("NAME", "x" * 10, max_length=10) == "x" * 10
    for refused in ("x" * 11, "a\x01b", "a\x1bb", "line one\nline two"):
        with pytest.raises(ConfigError) as why:
            check_text("NAME", refused, max_length=10)
        assert "NAME" in str(why.value)
        assert "one line of at most 10 characters" in str(why.value)


def test_free_text_without_a_pattern_is_accepted_and_with_one_must_match_it() -> None:
    """Kills line 235 ReplaceComparisonOperator_IsNot_Is (`pattern is not None` -> `is None`: text without a
    pattern would crash in re.fullmatch(None, ...), text not matching its pattern would pass)."""
    assert check_text("NAME", "any text", max_length=20) == "any text"
    assert check_text("NAME", "abc", max_length=20, pattern=r"[a-z]+", allowed="lowercase letters") == "abc"
    with pytest.raises(ConfigError, match="lowercase letters"):
        check_text("NAME", "ABC", max_length=20, pattern=r"[a-z]+", allowed="lowercase letters")


def test_an_endpoint_may_be_300_characters_and_not_301() -> None:
    """Kills line 272 NumberReplacer (`max_length=300` -> 299 and -> 301)."""
    base = "https://example.com/"
    longest = base + "a" * (300 - len(base))
    assert endpoint(longest) == longest
    with pytest.raises(ConfigError, match="BITBUCKET_API_URL"):
        endpoint(longest + "a")


@pytest.mark.parametrize(
    "accepted",
    [
        "https://example.com",
        "https://example.com/2.0",
        "http://localhost:8080",
        "http://LOCALHOST/api",
        "http://127.0.0.1:9000",
        "http://127.1.2.3",
        "http://[::1]:8443/x",
    ],
)
def test_https_anywhere_and_plain_http_on_a_loopback_host_are_accepted(accepted: str) -> None:
    """Kills line 258 Eq_NotEq and AddNot (`name == "localhost"` negated), line 259 ReplaceTrueWithFalse
    (localhost not loopback), line 280 Delete_Not #15 (`not parts.hostname` -> `parts.hostname`) and AddNot #39
    (the scheme check negated), line 282 AddNot (`not parts.query`), line 284 Eq_NotEq, AddNot and
    ReplaceAndWithOr (https refused, or http refused on a loopback host)."""
    assert endpoint(accepted + "/") == accepted


@pytest.mark.parametrize(
    ("refused", "why"),
    [
        ("http://example.com", "plain http:// is accepted only for loopback hosts"),
        ("http://10.0.0.1:8080", "plain http:// is accepted only for loopback hosts"),
        ("http://localhost.example.com", "plain http:// is accepted only for loopback hosts"),
        ("ftp://example.com", "with no user name or password"),
        ("https://", "with no user name or password"),
        ("https:///2.0", "with no user name or password"),
        ("https://user:secret@example.com", "with no user name or password"),
        ("https://token@example.com", "with no user name or password"),
        ("https://example.com/2.0?debug=1", "with no ?query or #fragment"),
        ("https://example.com/2.0#top", "with no ?query or #fragment"),
        ("https://example.com:port", "an http(s) URL such as"),
        ("https://[::1", "an http(s) URL such as"),
    ],
)
def test_an_endpoint_the_pipe_cannot_use_safely_is_refused_in_one_line(refused: str, why: str) -> None:
    """Kills line 258 Eq_NotEq/AddNot (any host but localhost counted as loopback), line 262 ExceptionReplacer (a
    host name that is not an IP escaping as ValueError), line 263 ReplaceFalseWithTrue (every name loopback), line
    278 ExceptionReplacer (a bad port or bracket escaping as ValueError), line 280 ReplaceOrWithAnd #13 (ftp://)
    and #14 (user info with a host), line 282 ReplaceOrWithAnd (a query alone, a fragment alone), line 284
    Delete_Not (`not is_loopback_host` -> `is_loopback_host`)."""
    with pytest.raises(ConfigError) as error:
        endpoint(refused)
    assert "BITBUCKET_API_URL" in str(error.value)
    assert why in str(error.value)


def test_a_startup_script_may_be_exactly_max_bytes() -> None:
    """Kills line 223 ReplaceComparisonOperator_Gt_GtE (`size > max_bytes` -> `>=`)."""
    script = "echo é\n"  # 8 bytes, 7 characters: the limit is in bytes
    assert decode_startup_script("STARTUP_SCRIPT", script, 8) == script
    with pytest.raises(ConfigError, match=r"at most 7 bytes \(8 given\)"):
        decode_startup_script("STARTUP_SCRIPT", script, 7)


@pytest.mark.parametrize("script", ["echo", "echo hi", "apt-get update\n", "make\n"])
def test_a_base64_script_is_decoded_whatever_its_length(script: str) -> None:
    """Kills line 213 NumberReplacer (`len(compact) % 4` -> `% 3`): base64 of 4 or 7 bytes is 8 or 12 characters,
    base64 of 15 or 5 bytes 20 or 8, lengths not all divisible by 3."""
    encoded = base64.b64encode(script.encode()).decode()
    assert decode_startup_script("STARTUP_SCRIPT", encoded, 1000) == script


def test_a_plain_script_with_non_ascii_text_is_kept_as_it_is() -> None:
    """Kills line 213 ReplaceAndWithOr (`len % 4 == 0 and _BASE64.match` -> `or`): a plain script whose letters
    number a multiple of 4 but include a non-ASCII one would reach b64decode, which raises ValueError."""
    for script in ("echo café", "echo naïve résumé!\n"):
        assert len("".join(script.split())) % 4 == 0
        assert decode_startup_script("STARTUP_SCRIPT", script, 1000) == script


def test_blank_items_between_labels_are_skipped_not_the_end_of_the_list() -> None:
    """Kills line 164 ReplaceContinueWithBreak (a stray comma ending the list)."""
    assert parse_labels("LABELS", "cml.a,,cml.b", "cml") == ("self.hosted", "linux", "cml.a", "cml.b")
    assert parse_labels("LABELS", ",cml.a, ,cml.b,", "cml") == ("self.hosted", "linux", "cml.a", "cml.b")


def test_blank_entries_between_metadata_pairs_are_skipped_not_the_end_of_the_list() -> None:
    """Kills line 184 ReplaceContinueWithBreak (a blank line or double comma ending the pairs)."""
    assert parse_metadata("METADATA", "team=ml,,owner=ana\n\nstage=dev", "cml") == {
        "team": "ml",
        "owner": "ana",
        "stage": "dev",
    }


def test_the_clone_directory_is_bitbucket_s_or_the_working_directory() -> None:
    """Kills line 242 ReplaceOrWithAnd (`BITBUCKET_CLONE_DIR or os.getcwd()` -> `and`: the clone directory
    ignored when set, and an empty path when not)."""
    assert clone_dir_of({"BITBUCKET_CLONE_DIR": "/opt/atlassian/pipelines/agent/build"}) == Path(
        "/opt/atlassian/pipelines/agent/build"
    )
    assert clone_dir_of({}) == Path(os.getcwd())
    assert clone_dir_of({"BITBUCKET_CLONE_DIR": "  "}) == Path(os.getcwd())


def test_a_path_variable_refused_is_a_one_line_config_error_and_must_exist_by_default(tmp_path: Path) -> None:
    """Kills line 249 ExceptionReplacer (PathRefused escaping instead of the one-line ConfigError) and line 245
    ReplaceTrueWithFalse (`must_exist=True` default -> False: a missing file accepted)."""
    (tmp_path / "present.txt").write_text("x")
    assert parse_clone_file("REPORT_FILE", "present.txt", tmp_path).relative == "present.txt"
    with pytest.raises(ConfigError) as missing:
        parse_clone_file("REPORT_FILE", "missing.txt", tmp_path)
    assert "REPORT_FILE" in str(missing.value)
    assert "does not exist" in str(missing.value)
    with pytest.raises(ConfigError, match=r"REPORT_FILE.*absolute path is refused"):
        parse_clone_file("REPORT_FILE", "/etc/passwd", tmp_path)

"""The label, duration and number parsers (pipe/config/parsers.py) at their limits, where a mutation run
(issue #20) changes `<` into `<=` or drops a check. Each limit is tried at the value allowed last and the
first value refused; the error names the variable and what is allowed.
"""

from __future__ import annotations

import pytest

from pipe.config.parsers import (
    MAX_CUSTOM_LABELS,
    MAX_LABEL_LENGTH,
    label_problem,
    parse_duration,
    parse_finite_duration,
    parse_int,
    parse_labels,
    parse_metadata,
    parse_positive_float,
)
from pipe.config.variables import ConfigError

DAY = 86400


def duration(value: str, *, allow_never: bool = True, max_s: int = DAY) -> int | None:
    return parse_duration("IDLE_TIMEOUT", value, default="5min", allow_never=allow_never, max_s=max_s)


def test_a_duration_is_allowed_up_to_its_maximum_and_refused_one_second_over_or_at_zero() -> None:
    """Kills `seconds > max_s` turned into `>=`, `seconds <= 0` into `< 0`, and the sum of parts turned
    into a difference or a quotient."""
    assert duration("86400") == DAY and duration("1d") == DAY and duration("23h59m60s") == DAY
    assert duration("1h30m") == 5400 and duration(" 2 hours 5 s ") == 7205
    for bad in ("86401", "1d1s", "0s", "0m"):
        with pytest.raises(ConfigError, match="IDLE_TIMEOUT") as refused:
            duration(bad)
        assert "at most 24h" in str(refused.value)
    assert duration("") == 300  # the default


def test_never_is_accepted_only_where_allowed_and_partial_or_unknown_text_is_refused() -> None:
    """Kills `allow_never and text in (...)` turned into `or`, the `match.start() != position` check
    negated (text between parts ignored), and `position != len(text) or position == 0` loosened."""
    for never in ("never", "-1", "0", "NEVER"):
        assert duration(never) is None
    with pytest.raises(ConfigError, match="MAX_LIFETIME"):
        parse_finite_duration("MAX_LIFETIME", "never", default="1h", max_s=DAY)
    with pytest.raises(ConfigError, match="IDLE_TIMEOUT"):
        duration("0", allow_never=False)
    assert duration("5") == 5  # bare digits are seconds
    for bad in ("5min junk", "junk 5min", "5 fortnights", "h", "5m x 5m", "1.5h"):
        with pytest.raises(ConfigError, match="IDLE_TIMEOUT"):
            duration(bad)


def test_a_whole_number_is_allowed_from_its_minimum_to_its_maximum_inclusive() -> None:
    """Kills `minimum <= number <= maximum` at either end turned into `<`."""

    def disk(value: str) -> int:
        return parse_int("CLOUD_HDD_SIZE", value, default=35, minimum=10, maximum=16384, unit="GB")

    assert (disk("10"), disk("16384"), disk("+20"), disk(" "), disk("")) == (10, 16384, 20, 35, 35)
    for bad in ("9", "16385", "-10", "1e3", "ten"):
        with pytest.raises(ConfigError, match="a whole number of GB from 10 to 16384"):
            disk(bad)


def test_a_positive_number_must_be_finite_and_above_zero() -> None:
    """Kills `number <= 0` turned into `< 0` and `not math.isfinite(number)` negated."""
    assert parse_positive_float("CLOUD_SPOT_PRICE", "0.0001", "a price") == 0.0001
    for bad in ("0", "-1", "inf", "nan", "cheap"):
        with pytest.raises(ConfigError, match="CLOUD_SPOT_PRICE"):
            parse_positive_float("CLOUD_SPOT_PRICE", bad, "a price")


def test_a_label_may_be_50_characters_and_not_51() -> None:
    """Kills `len(label) > MAX_LABEL_LENGTH` turned into `>=`."""
    assert label_problem("a" * MAX_LABEL_LENGTH) == ""
    assert "1-50 characters" in label_problem("a" * (MAX_LABEL_LENGTH + 1))
    assert "Bitbucket's own" in label_problem("linux.arm64")
    assert "another runner type" in label_problem("windows")


def test_ten_custom_labels_fit_and_the_pipes_own_count_against_them() -> None:
    """Kills `custom > allowed` turned into `>=`, `MAX_CUSTOM_LABELS - pipe_labels` into `+`, and duplicates
    counted twice (`label not in labels` negated)."""
    ten = ",".join(f"l{i}" for i in range(MAX_CUSTOM_LABELS))
    assert len(parse_labels("LABELS", ten + ",l0, ,", "cml.runner")) == 2 + MAX_CUSTOM_LABELS
    with pytest.raises(ConfigError, match=r"at most 10 labels besides self\.hosted and linux; 11 given"):
        parse_labels("LABELS", ten + ",l10", "cml.runner")
    nine = ",".join(f"l{i}" for i in range(MAX_CUSTOM_LABELS - 1))
    assert len(parse_labels("LABELS", nine, "cml.runner", pipe_labels=1)) == 2 + MAX_CUSTOM_LABELS - 1
    with pytest.raises(ConfigError, match=r"at most 9 labels .*the pipe adds 1 of its own.*; 10 given"):
        parse_labels("LABELS", ten, "cml.runner", pipe_labels=1)
    assert parse_labels("LABELS", "", "cml.runner") == ("self.hosted", "linux", "cml.runner")
    with pytest.raises(ConfigError, match="comma-separated list of labels"):
        parse_labels("LABELS", " , ", "cml.runner")


def test_metadata_values_up_to_256_characters_and_keys_up_to_63() -> None:
    """Kills `len(val) > 256` turned into `>=` and the reserved prefix check negated."""
    key63 = "k" * 63
    assert parse_metadata("CLOUD_METADATA", f"{key63}={'v' * 256},b=", "cml-") == {key63: "v" * 256, "b": ""}
    for bad in (f"a={'v' * 257}", f"{'k' * 64}=v", "novalue", "CML-owner=x", "a=\x07"):
        with pytest.raises(ConfigError, match="CLOUD_METADATA"):
            parse_metadata("CLOUD_METADATA", bad, "cml-")

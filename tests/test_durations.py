"""parse_duration / format_duration: the ``--expires`` grammar."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from qs_jwt.durations import MAX_DURATION_SECONDS, format_duration, parse_duration
from qs_jwt.errors import InvalidValueError, QsJwtError

YEAR = 31_557_600  # 365.25 days, as the Node tool's `ms` package


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("60m", 3600),
        ("1.5h", 5400),
        ("2 days", 172_800),
        ("5y", 5 * YEAR),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("10 MINUTES", 600),
        ("10 Minutes", 600),
        (".5d", 43_200),
        ("500ms", 0.5),
        ("1500MS", 1.5),
        ("1w", 604_800),
        ("2 weeks", 1_209_600),
        ("1 year", YEAR),
        ("3 hrs", 10_800),
        ("45 sec", 45),
        ("1d2h3m4s", 86_400 + 7200 + 180 + 4),
        ("  5m  ", 300),
        ("1.m", 60),
        ("100y", MAX_DURATION_SECONDS),
    ],
)
def test_accepted_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_bare_number_is_refused_with_a_unit_suggestion() -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_duration("3600")
    message = str(info.value)
    assert "unit" in message
    # 3600 is a whole number of minutes: both readings are offered
    assert "'3600s'" in message
    assert "'60m'" in message
    assert info.value.param == "expires"


@pytest.mark.parametrize("text", ["5", "1.5", " 42 ", "+7"])
def test_other_bare_numbers_are_refused_with_a_suggestion(text: str) -> None:
    with pytest.raises(InvalidValueError, match="unit is required"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0", "-7", "0.0"])
def test_bare_zero_or_negative_is_refused_without_suggesting_it(text: str) -> None:
    with pytest.raises(InvalidValueError, match="greater than zero") as info:
        parse_duration(text)
    assert "'0s'" not in str(info.value) and "'-7s'" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0s", "greater than zero"),
        ("0m0s", "greater than zero"),
        ("0.0h", "greater than zero"),
        ("-5m", "positive"),
        ("abc", "not a duration"),
        ("m", "not a duration"),
        ("+5m", "not a duration"),
        ("5m-", "not a duration"),
        ("1h-30m", "not a duration"),
        ("1 month", "unknown unit"),
        ("5mm", "unknown unit"),
        ("1e3s", "unknown unit"),
        ("5 m 5", "every number needs a unit"),
        ("999999y", "100 years"),
        ("100y1s", "100 years"),
        ("1" + "0" * 400 + "s", "100 years"),  # float overflow to inf is caught, not returned
        ("", "empty"),
        ("   ", "empty"),
        ("nan", "not a duration"),
        ("inf s", "not a duration"),
        ("5\x00m", "every number needs a unit"),
    ],
)
def test_refused_durations(text: str, fragment: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_duration(text)
    assert fragment in str(info.value)
    assert "\x00" not in str(info.value)  # control characters are shown escaped
    assert isinstance(info.value, QsJwtError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [3600, 60.0, None, b"60m", ["60m"]])
def test_non_text_is_refused(value: object) -> None:
    with pytest.raises(InvalidValueError, match="expected a duration"):
        parse_duration(value)  # type: ignore[arg-type]


def test_parameter_name_is_used_in_messages() -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_duration("abc", param="lifetime")
    assert str(info.value).startswith("lifetime: ")
    assert info.value.param == "lifetime"
    assert info.value.render({"lifetime": "--lifetime"}.__getitem__).startswith("--lifetime: ")


def test_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_duration("xyz" * 2000)  # not hex: hex runs are taken for secrets and not shown
    assert len(str(info.value)) < 200
    assert "..." in str(info.value)


def test_long_unknown_unit_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_duration("1h" + "x" * 5000)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("text", ["\u0663\u0660m", "\uff11\uff10m"])  # "٣٠m", "１０m"
def test_non_ascii_digits_are_refused(text: str) -> None:
    with pytest.raises(InvalidValueError):
        parse_duration(text)


@settings(max_examples=200, deadline=None)
@given(
    number=st.integers(min_value=1, max_value=5_000),
    unit=st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800)]),
    upper=st.booleans(),
    space=st.booleans(),
)
def test_number_and_unit_property(number: int, unit: tuple[str, int], upper: bool, space: bool) -> None:
    name, factor = unit
    text = f"{number}{' ' if space else ''}{name.upper() if upper else name}"
    assert parse_duration(text) == number * factor


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_text_either_parses_to_a_positive_bounded_number_or_raises_invalid_value(text: str) -> None:
    try:
        value = parse_duration(text)
    except InvalidValueError:
        return
    assert 0 < value <= MAX_DURATION_SECONDS


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (59, "59 s"),
        (89, "1 min 29 s"),
        (90, "1 min 30 s"),
        (3601, "1 h 1 s"),
        (258_900, "2 days 23 h"),
        (3540, "59 min"),
        (5400, "1 h 30 min"),
        (7200, "2 h"),
        (172_800, "2 days"),
        (365 * 86_400, "365 days"),
        (5 * YEAR, "5.0 years"),
        (-7200, "2 h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text

"""Parse token lifetimes such as ``60m``, ``1.5h``, ``2 days`` or ``1h30m``.

The grammar is a superset of the one the Node tool accepted (the ``ms`` package), with two
deliberate differences: a number without a unit is refused (the Node tool read ``3600`` as 3.6
seconds), and compound forms such as ``1h30m`` are allowed. Zero and negative lifetimes are refused.
"""

from __future__ import annotations

import math
import re

from .errors import ArgumentTypeError, InvalidValueError

__all__ = ["MAX_DURATION_SECONDS", "format_duration", "parse_duration"]

_UNITS: dict[str, float] = {}
for _names, _seconds in (
    (("ms", "msec", "msecs", "millisecond", "milliseconds"), 0.001),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("d", "day", "days"), 86400.0),
    (("w", "week", "weeks"), 604800.0),
    (("y", "yr", "yrs", "year", "years"), 31557600.0),  # 365.25 days, as the Node tool
):
    for _name in _names:
        _UNITS[_name] = _seconds

#: Longest lifetime accepted: 100 years. Beyond that a token is a permanent credential.
MAX_DURATION_SECONDS = 100 * 31557600

_PART = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]*)\s*")
#: what a duration can be made of; a value with other characters is not echoed (it may be a pasted secret)
_PLAIN = re.compile(r"[0-9A-Za-z. +-]*")
_BARE_NUMBER = re.compile(r"\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*")


def parse_duration(text: str, *, param: str = "expires") -> float:
    """Return the number of seconds that ``text`` stands for.

    Accepts ``<number><unit>`` (``90s``, ``60m``, ``1.5h``, ``2 days``, ``5y``), case-insensitively,
    and sequences of them (``1h30m``). Units: ms, s, m, h, d, w, y and their long forms.

    :raises InvalidValueError: for a missing unit, an unknown unit, a zero, negative or
        absurdly long duration, or text that is not a duration at all.
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"expected a duration such as 60m, got {type(text).__name__}", param=param)
    raw = text.strip()
    shown = _shorten(text)
    if not raw:
        raise InvalidValueError("empty duration; use a number with a unit, e.g. 60m", param=param)
    if _BARE_NUMBER.fullmatch(raw) and float(raw) <= 0:
        raise InvalidValueError(f"{shown}: the duration must be greater than zero, with a unit, e.g. 5m",
                                param=param)
    if _BARE_NUMBER.fullmatch(raw):
        raise InvalidValueError(
            f"{shown}: a unit is required, e.g. {_suggest(raw)} "
            "(units: ms, s, m, h, d, w, y)",
            param=param,
        )
    if raw.startswith("-"):
        raise InvalidValueError(f"{shown}: the duration must be positive", param=param)
    lowered = raw.lower()
    pos = 0
    total = 0.0
    while pos < len(lowered):
        match = _PART.match(lowered, pos)
        if match is None or match.end() == pos:
            raise InvalidValueError(
                f"{shown}: not a duration; use a number with a unit, e.g. 60m, 1h30m, 2 days",
                param=param,
            )
        number, unit = match.group(1), match.group(2)
        if not unit:
            raise InvalidValueError(
                f"{shown}: every number needs a unit (ms, s, m, h, d, w, y)", param=param
            )
        if unit not in _UNITS:
            raise InvalidValueError(
                f"{shown}: unknown unit {_shorten(unit)}; use ms, s, m, h, d, w or y", param=param
            )
        total += float(number) * _UNITS[unit]
        pos = match.end()
    if not math.isfinite(total) or total > MAX_DURATION_SECONDS:
        raise InvalidValueError(f"{shown}: longer than the maximum of 100 years", param=param)
    if total <= 0:
        raise InvalidValueError(f"{shown}: the duration must be greater than zero", param=param)
    return total


def format_duration(seconds: float) -> str:
    """Render a number of seconds as a short human text with its two largest units:
    ``45 s``, ``59 min``, ``1 h 1 s``, ``2 days 23 h``, ``365 days``, ``5.0 years``."""
    total = int(abs(seconds))
    if total >= 2 * 365 * 86400:
        return f"{total / 31557600:.1f} years"
    parts = []
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min"), (1, "s")):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {'day' if unit == 'days' and count == 1 else unit}")
    parts = parts[:2]
    return " ".join(parts) if parts else "0 s"


def _suggest(number: str) -> str:
    try:
        value = float(number)
    except ValueError:  # pragma: no cover - the regex only lets numbers through
        return "60m"
    if value >= 60 and value % 60 == 0:
        return f"'{int(value)}s' or '{int(value // 60)}m'"
    return f"'{number}s' or '{number}m'"


def _shorten(text: str) -> str:
    from .redact import looks_secret

    if looks_secret(text) or not _PLAIN.fullmatch(text[:40]):
        return "the value"  # never echo what may be a secret pasted into the wrong option
    return repr(text if len(text) <= 40 else text[:37] + "...")

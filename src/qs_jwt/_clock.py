"""The one place the library reads the wall clock, so tests can replace it."""

from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch. Tests monkeypatch this function to fix the time."""
    return time.time()


#: latest time accepted as ``now``: 9999-12-31T23:59:59Z
MAX_TIME = 253402300799


def resolve(value: float | None) -> float:
    """``value`` when given, else the current time.

    :raises InvalidValueError: ``value`` is not a number of seconds between 1970 and 9999.
    """
    if value is None:
        return now()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_TIME:
        from .errors import ArgumentTypeError, InvalidValueError

        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ArgumentTypeError(f"expected seconds since 1970, not {type(value).__name__}", param="now")
        raise InvalidValueError("expected seconds since 1970 (up to the year 9999)", param="now")
    return float(value)

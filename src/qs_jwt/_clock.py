"""The one place the library reads the wall clock, so tests can replace it."""

from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch. Tests monkeypatch this function to fix the time."""
    return time.time()


def resolve(value: float | None) -> float:
    """``value`` when given, else the current time."""
    return now() if value is None else float(value)

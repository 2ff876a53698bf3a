"""A clock that moves only when a test moves it."""

from __future__ import annotations

import datetime as dt

START = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    """The time the twins stamp on what they store (blob last-modified times, job creation,
    task transitions). The pipeline itself is always handed `now` explicitly."""

    def __init__(self, start: dt.datetime = START) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (UTC)")
        self._now = start

    def now(self) -> dt.datetime:
        """The clock's time (it moves only when advanced)."""
        return self._now

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> dt.datetime:
        """Move forward; return the new now."""
        step = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if step < dt.timedelta(0):
            raise ValueError("time does not go backward")
        self._now += step
        return self._now

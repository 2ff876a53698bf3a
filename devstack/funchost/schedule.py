"""Timer schedules: a six-field NCRONTAB expression or a constant TimeSpan interval.

The real host tries the expression as NCRONTAB first, then as a .NET TimeSpan
(``hh:mm:ss`` or ``d.hh:mm:ss``); a TimeSpan schedule fires every interval, counted
from the previous occurrence.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass
from typing import Protocol

from devstack.funchost.errors import ScheduleError
from devstack.funchost.ncrontab import CronExpression

_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2})(?::(?P<s>\d{1,2}))?$")

# The real host monitors a schedule (persists its status) by default only when
# occurrences are at least a minute apart.
_MONITOR_MIN_INTERVAL = dt.timedelta(minutes=1)


class Schedule(Protocol):
    """Anything that can name the next occurrence after a moment."""

    def next_after(self, moment: dt.datetime) -> dt.datetime | None: ...


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: the next occurrence is always one interval later."""

    text: str
    interval: dt.timedelta

    @classmethod
    def parse(cls, expression: str) -> IntervalSchedule:
        match = _TIMESPAN.match(expression.strip())
        if match is None:
            raise ScheduleError(expression, "not a TimeSpan (hh:mm:ss or d.hh:mm:ss)")
        hours, minutes = int(match["h"]), int(match["m"])
        seconds = int(match["s"] or 0)
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ScheduleError(expression, "TimeSpan hours, minutes or seconds out of range")
        interval = dt.timedelta(
            days=int(match["days"] or 0), hours=hours, minutes=minutes, seconds=seconds
        )
        if interval <= dt.timedelta(0):
            raise ScheduleError(expression, "a TimeSpan schedule must be longer than zero")
        return cls(expression, interval)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        return moment + self.interval

    def __str__(self) -> str:
        return self.text


def parse_schedule(expression: str) -> CronExpression | IntervalSchedule:
    """Parse a resolved schedule string (no ``%Setting%`` left in it)."""
    text = expression.strip()
    if not text:
        raise ScheduleError(expression, "the schedule is empty")
    if " " in text:
        return CronExpression.parse(text)
    if ":" in text:
        return IntervalSchedule.parse(text)
    raise ScheduleError(expression, "neither a six-field NCRONTAB expression nor a TimeSpan")


def upcoming(schedule: Schedule, after: dt.datetime, count: int) -> list[dt.datetime]:
    """The next ``count`` occurrences after ``after`` (fewer if the schedule runs out)."""
    found: list[dt.datetime] = []
    moment = after
    while len(found) < count:
        following = schedule.next_after(moment)
        if following is None:
            break
        found.append(following)
        moment = following
    return found


def monitored_by_default(schedule: Schedule, now: dt.datetime) -> bool:
    """True when the next occurrences are at least a minute apart, as the real host decides."""
    times = upcoming(schedule, now, 5)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return all(gap >= _MONITOR_MIN_INTERVAL for gap in gaps)

"""NCRONTAB expressions as the Functions timer trigger reads them.

Six fields, seconds first: ``{second} {minute} {hour} {day} {month} {day-of-week}``.
Each field is ``*`` or a comma-separated list of values, ranges ``a-b`` and steps
(``*/n``, ``a-b/n``, ``a/n`` meaning ``a`` to the field's maximum). Months and days of
the week may be given by name (``Jan``, ``January``, ``Mon``, ``Monday``; any case).
Days of the week run from 0 (Sunday) to 6 (Saturday).

As in the NCrontab library the real host uses, a time matches only when *both* the
day-of-month and the day-of-week fields match (cron's "either" rule does not apply).
Times are naive of zones: the host evaluates every expression in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from devstack.funchost.errors import ScheduleError

_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")

# Past this horizon no occurrence exists (e.g. 30 February); 29 February on a given
# weekday recurs within 28 years, so 30 covers every satisfiable expression.
_HORIZON_YEARS = 30


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0

    def value(self, text: str, expression: str) -> int:
        number = int(text) if text.isdigit() else self._named(text, expression)
        if not self.low <= number <= self.high:
            raise ScheduleError(
                expression, f"{self.name} value {number} is outside {self.low}-{self.high}"
            )
        return number

    def _named(self, text: str, expression: str) -> int:
        lowered = text.lower()
        for index, full in enumerate(self.names):
            if lowered in (full, full[:3]):
                return index + self.name_base
        raise ScheduleError(expression, f"{self.name} value {text!r} is not a number or name")


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day", 1, 31),
    _Field("month", 1, 12, _MONTH_NAMES, 1),
    _Field("day-of-week", 0, 6, _DAY_NAMES, 0),
)


def _parse_field(field: _Field, text: str, expression: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(expression, f"empty list item in {field.name} field {text!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(expression, f"bad step {step_text!r} in {field.name} field")
            step = int(step_text)
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = field.value(first, expression), field.value(last, expression)
            if low > high:
                raise ScheduleError(expression, f"{field.name} range {base!r} runs backwards")
        else:
            low = field.value(base, expression)
            # "a/n" means from a to the end of the field; a bare "a" is just a.
            high = field.high if step_text else low
        values.update(range(low, high + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronExpression:
    """A parsed six-field NCRONTAB expression; ``next_after`` finds occurrences."""

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> CronExpression:
        parts = expression.split()
        if len(parts) != len(_FIELDS):
            raise ScheduleError(
                expression,
                f"expected 6 fields (second minute hour day month day-of-week), got {len(parts)}",
            )
        sets = [_parse_field(f, p, expression) for f, p in zip(_FIELDS, parts, strict=True)]
        return cls(expression, *sets)

    def matches(self, moment: dt.datetime) -> bool:
        return (
            moment.second in self.seconds
            and moment.minute in self.minutes
            and moment.hour in self.hours
            and self._day_matches(moment)
        )

    def _day_matches(self, moment: dt.datetime) -> bool:
        cron_weekday = (moment.weekday() + 1) % 7  # Python: Monday=0; cron: Sunday=0
        return (
            moment.month in self.months
            and moment.day in self.days
            and cron_weekday in self.days_of_week
        )

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first matching whole second strictly after ``moment``, or None if none exists.

        ``moment`` keeps its tzinfo (the host passes aware UTC datetimes).
        """
        t = moment.replace(microsecond=0) + dt.timedelta(seconds=1)
        horizon = t.replace(year=min(t.year + _HORIZON_YEARS, dt.MAXYEAR), month=1, day=1)
        while t < horizon:
            if t.month not in self.months:
                t = _first_of_next_month(t)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0, second=0) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t = t.replace(second=0) + dt.timedelta(minutes=1)
            else:
                later = [s for s in self.seconds if s >= t.second]
                if later:
                    return t.replace(second=min(later))
                t = t.replace(second=0) + dt.timedelta(minutes=1)
        return None

    def __str__(self) -> str:
        return self.text


def _first_of_next_month(t: dt.datetime) -> dt.datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)

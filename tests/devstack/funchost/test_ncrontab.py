"""NCRONTAB expressions: six fields, seconds first, evaluated in UTC."""

from __future__ import annotations

import datetime as dt

import pytest

from devstack.funchost.errors import ScheduleError
from devstack.funchost.ncrontab import CronExpression

UTC = dt.UTC


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def following(expression: str, after: dt.datetime, count: int = 1) -> list[dt.datetime]:
    cron = CronExpression.parse(expression)
    found = []
    for _ in range(count):
        nxt = cron.next_after(after)
        assert nxt is not None
        found.append(nxt)
        after = nxt
    return found


def test_every_five_minutes_fires_on_the_minute_boundaries() -> None:
    assert following("0 */5 * * * *", at(2026, 1, 1, 10, 2, 30), 3) == [
        at(2026, 1, 1, 10, 5),
        at(2026, 1, 1, 10, 10),
        at(2026, 1, 1, 10, 15),
    ]


def test_the_first_field_is_seconds() -> None:
    assert following("*/15 * * * * *", at(2026, 1, 1, 0, 0, 1), 4) == [
        at(2026, 1, 1, 0, 0, 15),
        at(2026, 1, 1, 0, 0, 30),
        at(2026, 1, 1, 0, 0, 45),
        at(2026, 1, 1, 0, 1, 0),
    ]


def test_the_next_occurrence_is_strictly_after_the_given_moment() -> None:
    assert following("0 0 * * * *", at(2026, 1, 1, 10, 0, 0)) == [at(2026, 1, 1, 11, 0, 0)]
    half_past = dt.datetime(2026, 1, 1, 10, 0, 0, 500_000, tzinfo=UTC)
    assert following("* * * * * *", half_past) == [at(2026, 1, 1, 10, 0, 1)]


def test_lists_and_ranges_combine() -> None:
    assert following("0 0 9-10,15 * * *", at(2026, 1, 1, 0, 0), 4) == [
        at(2026, 1, 1, 9),
        at(2026, 1, 1, 10),
        at(2026, 1, 1, 15),
        at(2026, 1, 2, 9),
    ]


def test_a_range_with_a_step() -> None:
    assert following("0 10-20/5 * * * *", at(2026, 1, 1, 0, 0), 4) == [
        at(2026, 1, 1, 0, 10),
        at(2026, 1, 1, 0, 15),
        at(2026, 1, 1, 0, 20),
        at(2026, 1, 1, 1, 10),
    ]


def test_a_start_with_a_step_runs_to_the_end_of_the_field() -> None:
    assert following("0 0 20/2 * * *", at(2026, 1, 1, 0, 0), 3) == [
        at(2026, 1, 1, 20),
        at(2026, 1, 1, 22),
        at(2026, 1, 2, 20),
    ]


def test_weekdays_by_name_at_half_past_nine() -> None:
    # 2026-01-02 is a Friday
    assert following("0 30 9 * * Mon-Fri", at(2026, 1, 2, 10, 0), 2) == [
        at(2026, 1, 5, 9, 30),
        at(2026, 1, 6, 9, 30),
    ]


def test_sunday_is_day_zero_and_names_are_case_insensitive() -> None:
    assert following("0 0 0 * * 0", at(2026, 1, 1)) == following("0 0 0 * * sun", at(2026, 1, 1))
    assert following("0 0 0 * * SUNDAY", at(2026, 1, 1)) == [at(2026, 1, 4)]


def test_months_by_name_and_number() -> None:
    assert following("0 0 0 1 Jan,jul *", at(2026, 2, 1), 2) == [at(2026, 7, 1), at(2027, 1, 1)]
    assert following("0 0 0 1 march-april *", at(2026, 1, 1), 2) == [
        at(2026, 3, 1),
        at(2026, 4, 1),
    ]


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # The 13th that is a Friday: in 2026 that is February, then March
    assert following("0 0 0 13 * Fri", at(2026, 1, 1), 2) == [at(2026, 2, 13), at(2026, 3, 13)]


def test_a_day_missing_from_a_month_is_skipped() -> None:
    assert following("0 0 0 31 * *", at(2026, 4, 1), 2) == [at(2026, 5, 31), at(2026, 7, 31)]


def test_the_29th_of_february_waits_for_a_leap_year() -> None:
    assert following("0 0 12 29 2 *", at(2026, 1, 1)) == [at(2028, 2, 29, 12)]


def test_an_impossible_date_has_no_next_occurrence() -> None:
    assert CronExpression.parse("0 0 0 30 2 *").next_after(at(2026, 1, 1)) is None


def test_the_end_of_the_year_rolls_over() -> None:
    assert following("59 59 23 31 12 *", at(2026, 12, 31, 23, 59, 59)) == [
        at(2027, 12, 31, 23, 59, 59)
    ]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 */5 * * *", "expected 6 fields"),
        ("0 0 */5 * * * *", "expected 6 fields"),
        ("60 * * * * *", "second value 60 is outside 0-59"),
        ("0 0 24 * * *", "hour value 24"),
        ("0 0 0 0 * *", "day value 0"),
        ("0 0 0 * 13 *", "month value 13"),
        ("0 0 0 * * 7", "day-of-week value 7"),
        ("0 0 0 * Foo *", "'Foo' is not a number or name"),
        ("0 10-5 * * * *", "runs backwards"),
        ("*/0 * * * * *", "bad step"),
        ("1,,2 * * * * *", "empty list item"),
    ],
)
def test_invalid_expressions_are_refused_with_the_reason(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleError, match=reason):
        CronExpression.parse(expression)


def test_matches_says_whether_a_moment_is_an_occurrence() -> None:
    cron = CronExpression.parse("0 30 9 * * Mon-Fri")

    assert cron.matches(at(2026, 1, 5, 9, 30))
    assert not cron.matches(at(2026, 1, 4, 9, 30))  # a Sunday

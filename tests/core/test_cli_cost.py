"""`dropbatch cost` on the twins: node time per route and day from the tasks' execution
times, and the price estimate."""

from __future__ import annotations

import datetime as dt

import pytest

from batch_core import cost
from batch_core.errors import SettingError
from batch_core.testing import MemoryPipeline, memory_settings
from tests.core.specs.steps import pipeline, received, tick


def ran(p: MemoryPipeline, name: str, minutes: float) -> None:
    """A file lands, its task starts at once and runs `minutes`."""
    run = received(p, name)
    assert run.job_id and run.task_id
    p.batch.start(run.job_id, run.task_id)
    p.clock.advance(minutes=minutes)
    p.batch.complete(run.job_id, run.task_id, exit_code=0)


def test_node_time_is_task_time_over_the_pools_slots_per_route_and_day() -> None:
    # Given two slots per node, two CSV tasks of 10 and 20 minutes today, one tomorrow
    p = pipeline(DROPBATCH_BATCH_TASK_SLOTS_PER_NODE="2")
    ran(p, "a.csv", 10)
    ran(p, "b.csv", 20)
    p.clock.advance(days=1)
    ran(p, "c.csv", 60)
    tick(p, seconds=5)

    # When the cost of the last two days is added up
    now = p.clock.now()
    lines = cost.totals(cost.task_times(p, cost.window_start(now, 2), now))

    # Then each day has its tasks' time, and half of it in node time
    today = now.date()
    assert [(c.day, c.route, c.tasks, c.task_seconds, c.node_seconds) for c in lines] == [
        (today - dt.timedelta(days=1), "csv", 2, 1800.0, 900.0),
        (today, "csv", 1, 3600.0, 1800.0),
    ]
    assert lines[0].estimate(0.5) == pytest.approx(0.125)
    assert lines[0].estimate(None) is None
    assert lines[1].as_dict(2.0)["estimate"] == 1.0


def test_the_window_leaves_out_older_tasks_and_counts_running_ones_up_to_now() -> None:
    p = pipeline(DROPBATCH_BATCH_TASK_SLOTS_PER_NODE="1")
    ran(p, "old.csv", 5)
    p.clock.advance(days=3)
    running = received(p, "long.csv")
    assert running.job_id and running.task_id
    p.batch.start(running.job_id, running.task_id)
    now = p.clock.advance(minutes=30)

    times = cost.task_times(p, cost.window_start(now, 1), now)

    assert [(t.route, t.seconds, t.running) for t in times] == [("csv", 1800.0, True)]


def test_a_task_no_run_names_counts_under_an_unknown_route() -> None:
    p = pipeline()
    run = received(p, "a.csv")
    p.ledger.docs.clear()  # as if the run had last moved before the window
    assert run.job_id and run.task_id
    p.batch.start(run.job_id, run.task_id)
    now = p.clock.advance(minutes=1)
    p.batch.complete(run.job_id, run.task_id)

    (line,) = cost.totals(cost.task_times(p, cost.window_start(now, 1), now))

    assert line.route == cost.UNKNOWN_ROUTE and line.task_seconds == 60.0


def test_the_text_explains_the_estimate_and_how_to_get_a_price() -> None:
    p = pipeline()
    ran(p, "a.csv", 90)
    now = p.clock.now()
    lines = cost.totals(cost.task_times(p, cost.window_start(now, 7), now))

    without = cost.text(lines, None, 7, 2)
    priced = cost.text(lines, 0.4, 1, 2)

    assert "DROPBATCH_NODE_HOUR_PRICE" in without and "not counted" in without
    header, row, total = priced.splitlines()[:3]
    assert header.split() == ["DAY", "ROUTE", "TASKS", "TASK-HOURS", "NODE-HOURS", "ESTIMATE"]
    assert row.split()[1:] == ["csv", "1", "1.500", "0.750", "0.30"]  # two slots per node
    assert total.split() == ["total", "1", "1.500", "0.750", "0.30"]
    assert "DROPBATCH_NODE_HOUR_PRICE" not in priced and "not counted" not in priced


@pytest.mark.parametrize(
    ("value", "expected"), [("", None), ("0", 0.0), ("0.42", 0.42), (" 3 ", 3.0)]
)
def test_the_node_hour_price_setting_is_optional(value: str, expected: float | None) -> None:
    assert memory_settings({"DROPBATCH_NODE_HOUR_PRICE": value}).node_hour_price == expected


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_a_bad_node_hour_price_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingError, match="DROPBATCH_NODE_HOUR_PRICE"):
        memory_settings({"DROPBATCH_NODE_HOUR_PRICE": value})

"""`dropbatch cost`: node time per route and per day, from what Batch recorded of each task
(its execution start and end), and an estimate of its price.

A node runs up to `task_slots_per_node` tasks at once, so a task's node time is its own time
times the slots it takes / the slots of its pool's nodes. That is an estimate: nodes also boot,
run their start task and wait idle, none of which any task records. Only tasks of the day
jobs Batch still has are counted (cleanup deletes older ones)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from batch_core.jobs import day_of_job
from batch_core.keys import task_id
from batch_core.ledger import RunFilter
from batch_core.pipeline import Pipeline
from batch_core.routebook.pools import DEFAULT_POOL

UNKNOWN_ROUTE = "?"  # a task no run of the window names (its run was updated before)
SCAN_LIMIT = 100_000


@dataclass(frozen=True)
class TaskTime:
    """One task's run on a node: the day it started, its route, how long, and the share of
    a node it held (its slots / the node's slots)."""

    day: dt.date
    route: str
    seconds: float
    node_share: float
    running: bool = False  # still running: counted up to now


@dataclass(frozen=True)
class CostLine:
    """Task time of one route on one day, and the node time it stands for."""

    day: dt.date
    route: str
    tasks: int
    task_seconds: float
    node_seconds: float

    def estimate(self, price_per_node_hour: float | None) -> float | None:
        """Node hours times the price (None without a price)."""
        if price_per_node_hour is None:
            return None
        return self.node_seconds / 3600 * price_per_node_hour

    def as_dict(self, price: float | None) -> dict[str, Any]:
        """The line as `dropbatch cost --json` prints it."""
        return {
            "day": self.day.isoformat(),
            "route": self.route,
            "tasks": self.tasks,
            "task_seconds": round(self.task_seconds, 3),
            "node_seconds": round(self.node_seconds, 3),
            "estimate": None if price is None else round(self.estimate(price) or 0.0, 4),
        }


def window_start(now: dt.datetime, days: int) -> dt.datetime:
    """Midnight (UTC) of the first of the last `days` days, today included."""
    first = now.astimezone(dt.UTC).date() - dt.timedelta(days=days - 1)
    return dt.datetime.combine(first, dt.time(), dt.UTC)


def task_times(p: Pipeline, since: dt.datetime, now: dt.datetime) -> list[TaskTime]:
    """Every task of the day jobs that started at or after `since`."""
    routes = _routes_by_task(p, since)
    prefix = f"{p.settings.batch_job_prefix}-"
    times = []
    for job in p.batch.jobs(prefix):
        day = day_of_job(p.settings, job.id)
        if day is None or day < since.date() - dt.timedelta(days=1):
            continue  # not a day job, or too old to have tasks in the window
        slots = _slots_per_node(p, job.id)
        for tid, status in p.batch.task_statuses(job.id, since).items():
            if status.started_at is None or status.started_at < since:
                continue
            end = status.ended_at or now
            route = routes.get(tid, UNKNOWN_ROUTE)
            times.append(
                TaskTime(
                    day=status.started_at.astimezone(dt.UTC).date(),
                    route=route,
                    seconds=max(0.0, (end - status.started_at).total_seconds()),
                    node_share=min(1.0, _task_slots(p, route) / slots),
                    running=status.ended_at is None,
                )
            )
    return times


def totals(times: list[TaskTime]) -> list[CostLine]:
    """One line per day and route, in that order."""
    sums: dict[tuple[dt.date, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for t in times:
        line = sums[(t.day, t.route)]
        line[0] += 1
        line[1] += t.seconds
        line[2] += t.seconds * t.node_share
    return [
        CostLine(day, route, int(n), task_s, node_s)
        for (day, route), (n, task_s, node_s) in sorted(sums.items())
    ]


def _routes_by_task(p: Pipeline, since: dt.datetime) -> dict[str, str]:
    """The route of each task id of the runs updated since `since` (every attempt's): a run
    is updated when its task starts or ends, so this names every task of the window."""
    found = {}
    for run in p.ledger.newest(RunFilter(updated_since=since), SCAN_LIMIT):
        for attempt in range(1, run.attempt + 1):
            found[task_id(run.name, run.key, attempt)] = run.route
    return found


def _slots_per_node(p: Pipeline, job_id: str) -> int:
    rest = job_id[len(p.settings.batch_job_prefix) + 1 :]
    alias = rest[:-9] if len(rest) > 9 else DEFAULT_POOL  # <alias>-YYYYMMDD
    plan = p.pools.get(alias)
    slots = plan.expected.get("task_slots_per_node") if plan else None
    return slots if isinstance(slots, int) and slots > 0 else p.settings.batch_task_slots_per_node


def _task_slots(p: Pipeline, route: str) -> int:
    try:
        task = p.routes.route(route).task
    except KeyError:
        return 1
    return task.required_slots if task is not None else 1


def text(lines: list[CostLine], price: float | None, days: int, retention_days: int) -> str:
    """The table, a total, and what the numbers mean."""
    head = ("DAY", "ROUTE", "TASKS", "TASK-HOURS", "NODE-HOURS", "ESTIMATE")
    rows = [
        (
            str(c.day),
            c.route,
            str(c.tasks),
            f"{c.task_seconds / 3600:.3f}",
            f"{c.node_seconds / 3600:.3f}",
            "" if price is None else f"{c.estimate(price):.2f}",
        )
        for c in lines
    ]
    node_s = sum(c.node_seconds for c in lines)
    total = ("total", "", str(sum(c.tasks for c in lines)),
             f"{sum(c.task_seconds for c in lines) / 3600:.3f}", f"{node_s / 3600:.3f}",
             "" if price is None else f"{node_s / 3600 * price:.2f}")  # fmt: skip
    table = [head, *rows, total]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    out = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in table]
    if not lines:
        out.append(f"no task started in the last {days} days")
    out.append("")
    out.append(
        "node hours = task hours x the slots a task takes / the task slots per node of its pool: "
        "an estimate (node boot, start tasks and idle time are not in any task)"
    )
    if price is None:
        out.append("set DROPBATCH_NODE_HOUR_PRICE or --price-per-node-hour for a price estimate")
    if days > retention_days:
        out.append(
            f"jobs older than {retention_days} days (DROPBATCH_JOB_RETENTION_DAYS) are deleted "
            "by cleanup: their tasks are not counted"
        )
    return "\n".join(out)

"""What the status page shows, gathered from the ledger, the alerts and Batch.

Every Cosmos query is bounded: the runs updated in the last day (at most WINDOW_LIMIT), the
active runs, the newest failed and rejected runs, the newest alerts. Nothing scans history.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_core.batch_service import PoolNodeCounts
from batch_core.clock import parse_iso
from batch_core.errors import DropbatchError
from batch_core.fanoutstate import FanoutState
from batch_core.ledger import RunFilter
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.stuck import is_stuck
from worker.contract import attempt_log_prefix, output_prefix

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(days=1)
BUCKET_SECONDS = 600  # the chart's bars: files ended per 10 minutes
WINDOW_LIMIT = 5000  # runs of the window read at most; the page says when it is cut
PROBLEM_LIMIT = 50  # newest failed and rejected runs shown
ALERT_LIMIT = 50


@dataclass(frozen=True)
class Problem:
    """A failed or rejected run and the places an operator looks at next."""

    run: Run
    places: tuple[str, ...]


@dataclass(frozen=True)
class RouteFigures:
    """One route over the window: files seen, how many ended, and how they did."""

    route: str
    files: int
    ended: int
    succeeded: int
    median_seconds: float | None

    @property
    def success_rate(self) -> float | None:
        """The share of ended runs that succeeded; None before any ended."""
        return self.succeeded / self.ended if self.ended else None


@dataclass(frozen=True)
class PoolFigures:
    """The pool's nodes and the tasks waiting for or running on them; `error` when Batch
    could not be read (the rest of the page is still worth showing)."""

    nodes: PoolNodeCounts | None
    pending_tasks: int = 0
    running_tasks: int = 0
    error: str | None = None


@dataclass(frozen=True)
class FanoutFigures:
    """One fan-out file of the window: its members done of the total, and how it stands."""

    run: Run
    members: int
    done: int
    failed: int
    running: int
    merge: str


def fanout_figures(runs: Iterable[Run]) -> list[FanoutFigures]:
    """The fan-out files among `runs`, active ones first, then the newest."""
    found = []
    for run in runs:
        if run.fanout is None:
            continue
        progress = FanoutState.from_dict(dict(run.fanout)).progress()
        failed = int(progress["failed"] or 0) + int(progress["rejected"] or 0)
        found.append(
            FanoutFigures(
                run=run,
                members=int(progress["members"] or 0),
                done=int(progress["succeeded"] or 0) + failed,
                failed=failed,
                running=int(progress["running"] or 0),
                merge=str(progress["merge"]),
            )
        )
    return sorted(found, key=lambda f: (f.run.state.terminal, -f.run.updated_at.timestamp()))


@dataclass(frozen=True)
class StatusData:
    """Everything the status page and status.json show, read at `now`."""

    now: dt.datetime
    counts: Mapping[str, int]  # runs of the window (and every active run) per state
    problems: list[Problem]
    stuck: list[Run]
    alerts: list[dict[str, Any]]
    ended: list[tuple[int, int, int]]  # (bucket start, epoch seconds; ended; of them not ok)
    routes: list[RouteFigures]
    pool: PoolFigures
    fanouts: list[FanoutFigures] = field(default_factory=list)
    window_cut: bool = False  # more runs in the window than WINDOW_LIMIT
    stuck_after_seconds: int = 0


def gather(p: Pipeline, now: dt.datetime) -> StatusData:
    """Everything the status page shows, as of `now`."""
    since = now - WINDOW
    recent = p.ledger.newest(RunFilter(updated_since=since), WINDOW_LIMIT)
    active = p.ledger.active()
    window = {r.key: r for r in [*recent, *active]}.values()
    counts = Counter(r.state.value for r in window)
    return StatusData(
        now=now,
        counts={s.value: counts.get(s.value, 0) for s in RunState},
        problems=problems(p),
        stuck=sorted(
            (r for r in active if is_stuck(r, now, p.settings.stuck_after_seconds)),
            key=lambda r: r.updated_at,
        ),
        alerts=[a for a in p.alerts.recent(ALERT_LIMIT) if _at(a) >= since],
        ended=ended_per_bucket(recent, since, now),
        routes=route_figures(window),
        pool=pool_figures(p),
        fanouts=fanout_figures(window)[:PROBLEM_LIMIT],
        window_cut=len(recent) >= WINDOW_LIMIT,
        stuck_after_seconds=p.settings.stuck_after_seconds,
    )


def problems(p: Pipeline, limit: int = PROBLEM_LIMIT) -> list[Problem]:
    """The newest failed and rejected runs, newest first, with where to look."""
    found = [
        *p.ledger.newest(RunFilter(state=RunState.FAILED), limit),
        *p.ledger.newest(RunFilter(state=RunState.REJECTED), limit),
    ]
    found.sort(key=lambda r: r.updated_at, reverse=True)
    return [Problem(r, places_of(p, r)) for r in found[:limit]]


def places_of(p: Pipeline, run: Run) -> tuple[str, ...]:
    """Container paths holding what a run left: the quarantined copy of a failed file, the
    results (a rejected file's summary says why) and the last attempt's task logs."""
    prefix = output_prefix(run.name, run.key)
    s = p.settings
    places: list[str] = []
    if run.state is RunState.FAILED and "quarantined" in run.reason:
        places.append(f"{s.container_failed}/{prefix}/")
    if run.state is RunState.REJECTED and run.attempt > 0:
        places.append(f"{s.container_results}/{prefix}/")
    if run.attempt > 0:
        places.append(f"{s.container_logs}/{attempt_log_prefix(run.name, run.key, run.attempt)}/")
    return tuple(places)


def ended_per_bucket(
    runs: Iterable[Run], since: dt.datetime, now: dt.datetime
) -> list[tuple[int, int, int]]:
    """Runs that ended per BUCKET_SECONDS from `since` to `now`: (bucket start in epoch
    seconds, how many ended, how many of them did not succeed). Empty buckets included."""
    first = int(since.timestamp()) // BUCKET_SECONDS
    last = int(now.timestamp()) // BUCKET_SECONDS
    ended: Counter[int] = Counter()
    bad: Counter[int] = Counter()
    for run in runs:
        if not run.state.terminal or run.updated_at < since:
            continue
        bucket = int(run.updated_at.timestamp()) // BUCKET_SECONDS
        ended[bucket] += 1
        bad[bucket] += run.state is not RunState.SUCCEEDED
    return [(b * BUCKET_SECONDS, ended[b], bad[b]) for b in range(first, last + 1)]


def route_figures(runs: Iterable[Run]) -> list[RouteFigures]:
    """Per route: files, ended, succeeded and the median time from drop to end."""
    by_route: dict[str, list[Run]] = {}
    for run in runs:
        by_route.setdefault(run.route, []).append(run)
    figures = []
    for route, group in sorted(by_route.items()):
        ended = [r for r in group if r.state.terminal]
        durations = [(r.updated_at - r.created_at).total_seconds() for r in ended]
        figures.append(
            RouteFigures(
                route=route,
                files=len(group),
                ended=len(ended),
                succeeded=sum(r.state is RunState.SUCCEEDED for r in ended),
                median_seconds=statistics.median(durations) if durations else None,
            )
        )
    return figures


def pool_figures(p: Pipeline) -> PoolFigures:
    """Node counts of the pool, and the tasks of the pipeline's unfinished jobs."""
    try:
        nodes = p.batch.pool_node_counts()
        pending = running = 0
        for job in p.batch.jobs(p.settings.batch_job_prefix):
            if job.state != "active":
                continue
            counts = p.batch.job_task_counts(job.id)
            pending += counts.get("active", 0)
            running += counts.get("running", 0)
    except DropbatchError as e:
        log.warning("status page: Batch could not be read: %s", e)
        return PoolFigures(None, error=str(e))
    return PoolFigures(nodes, pending, running)


def _at(alert: Mapping[str, Any]) -> dt.datetime:
    try:
        return parse_iso(str(alert.get("at")))
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)

"""The run state machine: one active run compared with its Batch task and moved forward —
submitted when its plan is missing, running when its task runs, finished when its task ended,
vanished when its file went away first, alerted when it does not move for too long."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from batch_core import intake, outcomes
from batch_core.finish import finish
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.stuck import RECEIVED_GRACE, check_stuck
from batch_core.submission import job_for, route_of
from batch_core.taskwatch import UNCHANGED, TaskWatch
from batch_core.tickreport import TickReport

log = logging.getLogger(__name__)


def backing_off(run: Run, now: dt.datetime) -> bool:
    """The run waits for the backoff before its next attempt."""
    return run.next_attempt_at is not None and now < run.next_attempt_at


def advance(p: Pipeline, watch: TaskWatch, run: Run, now: dt.datetime, report: TickReport) -> None:
    """Move one active run as far as its task's state allows."""
    if run.state is RunState.RECEIVED:
        if now - run.updated_at < RECEIVED_GRACE:
            return
        if run.route == intake.NO_ROUTE:  # its trigger died before rejecting it
            p.ledger.advance(run, RunState.REJECTED, p.routes.no_route_reason(run.name), now)
            report.moved["rejected"] += 1
            return
        intake.submit(p, run, max(run.attempt, 1), now)
        report.moved["submitted"] += 1
        return
    if backing_off(run, now):
        return  # waiting before the next attempt
    if not run.job_id or not run.task_id:
        intake.submit(p, run, max(run.attempt, 1), now)  # a run stored without its plan
        return
    status = watch.status(run)
    if status is UNCHANGED:
        check_stuck(p, run, now, report)
        return
    if status is None:
        _create_missing_task(p, run, now, report)
        return
    route = route_of(p, run)
    verdict = outcomes.verdict(route, status)
    if verdict.state is None or verdict.state is RunState.RUNNING:
        if verdict.state is RunState.RUNNING and run.state is not RunState.RUNNING:
            p.ledger.advance(run, RunState.RUNNING, f"task {run.task_id} running", now)
            report.moved["running"] += 1
        check_stuck(p, run, now, report)
        return
    finish(p, run, route, verdict, status, now, report)


def _create_missing_task(p: Pipeline, run: Run, now: dt.datetime, report: TickReport) -> None:
    """The ledger planned a task that Batch does not have: the file vanished, or creating the
    task failed (or its job was cleaned away). Create it, unless the file is gone."""
    etag = p.blobs.current_etag(run.container, run.name)
    if etag != run.etag:
        why = "deleted" if etag is None else "replaced by a newer version"
        p.ledger.advance(run, RunState.VANISHED, f"the blob was {why} before it was processed", now)
        report.moved["vanished"] += 1
        return
    if run.job_id != job_for(p, route_of(p, run), now.date()):
        # Planned on an earlier day's job, which cleanup may have ended: plan it on today's.
        run = intake.plan(p, run, run.attempt, now)
    elif run.next_attempt_at is not None:
        run = p.ledger.save(dataclasses.replace(run, next_attempt_at=None))
    intake.create_task(p, run, now)
    log.info("created planned task %s for %s", run.task_id, run.name)

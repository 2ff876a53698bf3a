"""Intake: a blob landed (trigger or sweep). Record it under the route its name matches,
then submit its task. Never reads the file: name, etag, size and metadata only."""

from __future__ import annotations

import datetime as dt
import logging

from batch_core import fanoutflow, phases, telemetry
from batch_core.alerts import pool_alert
from batch_core.blobnames import name_problem, shown_name
from batch_core.blobstore import BlobRef
from batch_core.errors import PermanentError, UnsafeValueError, VanishedError
from batch_core.keys import file_key, task_id
from batch_core.moves import advance_or_reread
from batch_core.pipeline import Pipeline
from batch_core.routebook import Route, is_ignored
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.submission import job_for, pool_for, route_of, task_for

log = logging.getLogger(__name__)

# The route of a run that no route matched (it ends `rejected` with the reason).
NO_ROUTE = "none"


def receive(p: Pipeline, blob: BlobRef, now: dt.datetime) -> Run | None:
    """Handle one BlobCreated event. A duplicate event changes nothing; returns the run (None
    for ignored names)."""
    key = file_key(p.blobs.account, blob.container, blob.name, blob.etag)
    with telemetry.span("intake", file_key=key, blob=f"{blob.container}/{blob.name}"):
        run = _receive(p, blob, now)
        if run is not None:
            telemetry.annotate(route=run.route, state=run.state.value)
        return run


def _receive(p: Pipeline, blob: BlobRef, now: dt.datetime) -> Run | None:
    if is_ignored(blob.name, p.settings.ignore_prefixes):
        log.info("ignored %s/%s: matches an ignored prefix", blob.container, blob.name)
        return None
    route = p.routes.match(blob.name)
    key = file_key(p.blobs.account, blob.container, blob.name, blob.etag)
    received = Run(
        key=key,
        container=blob.container,
        name=blob.name,
        etag=blob.etag,
        size=blob.size,
        route=route.name if route is not None else NO_ROUTE,
        state=RunState.RECEIVED,
        reason="received",
        created_at=now,
        updated_at=now,
        parent=blob.parent,
        replay_of=blob.replay_of,
        history=({"at": now.isoformat(), "state": "received", "reason": "received"},),
        fanout={"phase": "waiting"} if route is not None and route.is_fanout else None,
    )
    fresh = _decided(p, received, route, now)
    with phases.timed("ledger"):
        run, created = p.ledger.create(fresh)
    if created:
        telemetry.count("files_received", route=run.route)
        if run.state is not RunState.RECEIVED:  # written already moved on: one transition
            log.info(
                "run %s received -> %s: %s (%s/%s)",
                run.key, run.state.value, run.reason, run.container, run.name,
            )  # fmt: skip
            telemetry.transition(
                run.key, run.route, "received", run.state.value, run.state.terminal
            )
        if run.state is RunState.SUBMITTED:  # the one ledger write of a file was its plan
            submitted = create_task(p, run, now)
            if submitted.state is RunState.SUBMITTED:
                latency = telemetry.since(blob.last_modified)
                telemetry.record("submit_latency", latency, route=run.route)
            return submitted
    else:
        log.info(
            "duplicate event for %s/%s (run %s is %s)", blob.container, blob.name, key, run.state
        )
    if run.fanout is not None:
        return fanoutflow.receive(p, run, now)
    if run.state is RunState.RECEIVED:
        if problem := name_problem(blob.name):
            reason = f"{shown_name(blob.name)}: {problem}"
            return advance_or_reread(p, run, RunState.REJECTED, reason, now)
        if run.route == NO_ROUTE:
            return advance_or_reread(
                p, run, RunState.REJECTED, p.routes.no_route_reason(blob.name), now
            )
        submitted = submit(p, run, attempt=1, now=now)
        if submitted.state is RunState.SUBMITTED:
            telemetry.record("submit_latency", telemetry.since(blob.last_modified), route=run.route)
        return submitted
    if (
        run.state is RunState.SUBMITTED
        and run.task_id
        and run.next_attempt_at is None
        and run.job_id == job_for(p, route_of(p, run), now.date())
    ):
        # The first delivery may have died between the ledger and Batch; adding the same task
        # id again is a no-op when it exists (TaskExists). A plan of an earlier day is left to
        # the reconciler, which moves it to today's job if its task is missing.
        create_task(p, run, now)
    return run


def _decided(p: Pipeline, run: Run, route: Route | None, now: dt.datetime) -> Run:
    """What the ledger's first (and usually only) write of a file holds: already rejected
    when its name cannot travel intact or no route takes it, already planned (job and task
    ids are deterministic) when its route runs one task; a fan-out file stays received until
    it is admitted."""
    if problem := name_problem(run.name):
        return run.moved(RunState.REJECTED, f"{shown_name(run.name)}: {problem}", now)
    if route is None:
        return run.moved(RunState.REJECTED, p.routes.no_route_reason(run.name), now)
    if route.is_fanout:
        return run
    job = job_for(p, route, now.date())
    tid = task_id(run.name, run.key, 1)
    reason = f"attempt 1: task {tid} on job {job}"
    return run.moved(RunState.SUBMITTED, reason, now, attempt=1, job_id=job, task_id=tid)


def submit(p: Pipeline, run: Run, attempt: int, now: dt.datetime) -> Run:
    """Plan the task in the ledger, then create it now."""
    planned = plan(p, run, attempt, now)
    if planned.attempt == attempt and planned.state is RunState.SUBMITTED:
        return create_task(p, planned, now)
    return planned


def plan(
    p: Pipeline, run: Run, attempt: int, now: dt.datetime, not_before: dt.datetime | None = None
) -> Run:
    """Record the job and task id of `attempt` before the task exists. If creating it fails,
    the reconciler finds the planned task missing and adds it: the ids never change."""
    job = job_for(p, route_of(p, run), now.date())
    tid = task_id(run.name, run.key, attempt)
    when = f", not before {not_before:%H:%M:%S}" if not_before else ""
    return advance_or_reread(
        p,
        run,
        RunState.SUBMITTED,
        f"attempt {attempt}: task {tid} on job {job}{when}",
        now,
        attempt=attempt,
        job_id=job,
        task_id=tid,
        next_attempt_at=not_before,
    )


def create_task(p: Pipeline, run: Run, now: dt.datetime) -> Run:
    """Create the planned task of `run` (a duplicate is a no-op). A file whose name may not
    go into its route's command line ends `rejected`; one deleted or replaced first ends
    `vanished`. Returns the run as it now stands."""
    if not run.job_id or not run.task_id:
        raise ValueError(f"run {run.key} has no planned task: plan() it first")
    with phases.timed("plan"):
        pool = pool_for(p, route_of(p, run))
        problems = p.batch.ensure_pools([pool])
    for problem in problems:
        log.warning("%s", problem.message)
        p.alerts.raise_alert(pool_alert(problem, now))
        if problem.property_name == "exists":
            raise PermanentError(problem.message)  # the reconciler tries again each tick
    try:
        with phases.timed("plan"):
            task = task_for(p, run, run.attempt)
    except UnsafeValueError as e:
        return advance_or_reread(p, run, RunState.REJECTED, f"{run.name}: {e}", now)
    except VanishedError as e:
        return advance_or_reread(p, run, RunState.VANISHED, str(e), now)
    p.submitter.add(run.job_id, task, pool.pool_id)
    return run

"""A fan-out file from its arrival to its members: admission (at most
DROPBATCH_MAX_ACTIVE_FANOUTS files with a job at once, the others wait in `received` and are
admitted in arrival order), its own job, the plan task on a node, then the members created
in chunks of 100 from a watermark kept in the run document (a tick that dies mid-way goes on
where it stopped; a task that exists already counts as created), then the merge, last. The
running members are watched by `fanoutwatch`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field

from batch_core import fanoutwatch
from batch_core.alerts import pool_alert
from batch_core.errors import (
    DropbatchError,
    PermanentError,
    TransientError,
    UnsafeValueError,
    VanishedError,
)
from batch_core.fanoutend import end, move, state_of, store
from batch_core.fanoutspec import needs_plan
from batch_core.fanoutstate import FanoutState
from batch_core.fanouttasks import (
    MERGE_TASK,
    MemberResources,
    member_task,
    member_values,
    merge_task,
    plan_task,
    plan_task_id,
)
from batch_core.jobs import fanout_job_id
from batch_core.outcomes import backoff, max_attempts
from batch_core.pipeline import Pipeline
from batch_core.routebook import Route, render
from batch_core.run import Run
from batch_core.states import RunState, verdict_for_task
from batch_core.stuck import RECEIVED_GRACE, check_stuck
from batch_core.submission import pool_for, route_of
from batch_core.tickreport import TickReport
from worker.contract import PLAN_FILE, SUMMARY_FILE, output_prefix

log = logging.getLogger(__name__)

CHUNK = 100  # tasks per add-task-collection request (Batch's cap)
CHUNKS_PER_TICK = 5  # members created per tick: at most 500, a few requests
WAITING = "waiting for a fan-out slot"


def is_fanout(run: Run) -> bool:
    """Whether the run is a fan-out file's (it carries fan-out progress)."""
    return run.fanout is not None


@dataclass
class Admission:
    """Fan-out files holding a job now, and those waiting in arrival order."""

    limit: int
    admitted: int = 0
    waiting: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, p: Pipeline, runs: list[Run]) -> Admission:
        """This tick's admission: the fan-out files running, and those waiting (oldest first)."""
        fanouts = [r for r in runs if is_fanout(r) and not r.state.terminal]
        waiting = sorted(
            (r for r in fanouts if r.state is RunState.RECEIVED), key=lambda r: r.created_at
        )
        return cls(
            p.settings.max_active_fanouts,
            sum(r.state is not RunState.RECEIVED for r in fanouts),
            [r.key for r in waiting],
        )

    def take(self, run: Run) -> bool:
        """Whether `run` may start now (it is first in line and a slot is free)."""
        ahead = self.waiting.index(run.key) if run.key in self.waiting else 0
        if self.admitted + ahead >= self.limit:
            return False
        self.admitted += 1
        if run.key in self.waiting:
            self.waiting.remove(run.key)
        return True


def receive(p: Pipeline, run: Run, now: dt.datetime) -> Run:
    """A fan-out file was recorded (or its event came again): start it when a slot is free;
    anything after that is the reconciler's (a duplicate event adds nothing)."""
    if run.state is not RunState.RECEIVED:
        return run
    return admit(p, run, now, Admission.of(p, p.ledger.active()))


def admit(p: Pipeline, run: Run, now: dt.datetime, admission: Admission) -> Run:
    """Give a waiting fan-out file its job if the limit allows, else record why it waits."""
    if not admission.take(run):
        reason = (
            f"{WAITING}: {admission.admitted} fan-out files are running "
            f"(DROPBATCH_MAX_ACTIVE_FANOUTS = {admission.limit}); admitted in arrival order"
        )
        if run.reason != reason:
            run = p.ledger.save(dataclasses.replace(run, reason=reason))
        return run
    return start(p, run, now)


def advance(
    p: Pipeline, admission: Admission, run: Run, now: dt.datetime, report: TickReport
) -> None:
    """Move one active fan-out file as far as its job allows (the reconciler's step)."""
    state = state_of(run)
    if run.state is RunState.RECEIVED:
        if now - run.updated_at >= RECEIVED_GRACE or run.reason.startswith(WAITING):
            moved = admit(p, run, now, admission)
            if moved.state is not RunState.RECEIVED:
                report.moved[moved.state.value] += 1
        return
    if state.phase == "planning":
        _planning(p, run, state, now, report)
    elif state.phase == "creating":
        create_members(p, run, state, now, report)
    else:
        fanoutwatch.watch(p, run, state, now, report)


def start(p: Pipeline, run: Run, now: dt.datetime) -> Run:
    """Give the file its job, then its plan task (or, for a range, its members)."""
    route = route_of(p, run)
    try:
        _check_name(run, route)
    except UnsafeValueError as e:
        return move(p, run, RunState.REJECTED, f"{run.name}: {e}", now, state_of(run))
    pool = pool_for(p, route)
    for problem in p.batch.ensure_pools([pool]):
        log.warning("%s", problem.message)
        p.alerts.raise_alert(pool_alert(problem, now))
        if problem.property_name == "exists":
            raise PermanentError(problem.message)  # the reconciler tries again each tick
    job = fanout_job_id(p.settings, run.key)
    assert route.fanout is not None
    p.batch.create_fanout_job(job, pool.pool_id, route.fanout.max_parallel)
    if needs_plan(route):
        state = FanoutState(phase="planning")
        run = move(
            p, run, RunState.SUBMITTED, f"planning: task plan on job {job}", now, state,
            attempt=1, job_id=job, task_id=plan_task_id(1),
        )  # fmt: skip
        p.batch.add_task(job, plan_task(p, run, route, pool, 1), pool.pool_id)
        return run
    assert route.fanout.range is not None
    count = route.fanout.range.stop - route.fanout.range.start
    state = _planned(route, count, planned_by_task=False)
    run = move(p, run, RunState.SUBMITTED, f"{count} members to create on job {job}", now, state,
               attempt=1, job_id=job)  # fmt: skip
    return run


def _check_name(run: Run, route: Route) -> None:
    """The blob's name must be safe in the member command line (content is the plan's)."""
    assert route.task is not None
    values = member_values(run, route, 1, 0, {})
    dummy = {n: "0" for n in ("entry",)} | {
        f"{k}.{f}": "0"
        for k in ("item", "row")
        for f in (route.fanout.fields if route.fanout else {})
    }
    render(route.task.command, values | dummy, command_line=True)


def _planned(route: Route, count: int, planned_by_task: bool) -> FanoutState:
    return FanoutState(
        phase="creating",
        planned_by_task=planned_by_task,
        count=count,
        merge="pending" if route.merge is not None else "none",
    )


def _planning(
    p: Pipeline, run: Run, state: FanoutState, now: dt.datetime, report: TickReport
) -> None:
    if run.next_attempt_at is not None and now < run.next_attempt_at:
        return
    assert run.job_id and run.task_id
    route = route_of(p, run)
    status = p.batch.task_status(run.job_id, run.task_id)
    if status is None:
        pool = pool_for(p, route)
        p.batch.add_task(run.job_id, plan_task(p, run, route, pool, run.attempt), pool.pool_id)
        return
    if status.state != "completed":
        check_stuck(p, run, now, report)
        return
    verdict = verdict_for_task(status.state, status.exit_code, status.failure)
    prefix = output_prefix(run.name, run.key)
    if verdict.state is RunState.SUCCEEDED:
        plan = p.blobs.read_json(p.settings.container_results, f"{prefix}/{PLAN_FILE}") or {}
        count = int(plan.get("count") or 0)
        planned = _planned(route, count, planned_by_task=True)
        run = move(p, run, RunState.RUNNING, f"planned {count} members", now, planned)
        report.moved["running"] += 1
        create_members(p, run, planned, now, report)
        return
    if verdict.state in (RunState.REJECTED, RunState.VANISHED):
        said = p.blobs.read_json(p.settings.container_results, f"{prefix}/{SUMMARY_FILE}") or {}
        reason = str(said.get("reason") or verdict.reason)
        done = move(p, run, verdict.state, reason, now, state)
        report.moved[done.state.value] += 1
        return
    if verdict.retry and run.attempt < max_attempts(p.routes, route, p.settings):
        delay = backoff(p.routes, route, p.settings, run.attempt)
        attempt = run.attempt + 1
        move(p, run, RunState.SUBMITTED, f"plan attempt {attempt} after: {verdict.reason}", now,
             state, attempt=attempt, task_id=plan_task_id(attempt),
             next_attempt_at=now + delay)  # fmt: skip
        report.retried += 1
        return
    end(p, run, state, RunState.FAILED, f"the plan task failed: {verdict.reason}", now, report)


def create_members(
    p: Pipeline, run: Run, state: FanoutState, now: dt.datetime, report: TickReport
) -> None:
    """Add the next chunks of members, saving the watermark after each; the merge last."""
    assert run.job_id and state.count is not None
    job, count = run.job_id, state.count
    route = route_of(p, run)
    if count == 0:
        end(p, run, state, RunState.SUCCEEDED, "no members (allow_empty)", now, report)
        return
    values: dict[str, list[str]] = {}
    if state.planned_by_task:
        plan = p.blobs.read_json(
            p.settings.container_results, f"{output_prefix(run.name, run.key)}/{PLAN_FILE}"
        )
        values = {k: list(v) for k, v in ((plan or {}).get("values") or {}).items()}
    resources = MemberResources(p, run, state.snapshot, merge=False)
    try:
        for _ in range(CHUNKS_PER_TICK):
            low, high = state.created, min(state.created + CHUNK, count)
            if low >= high:
                break
            tasks = [
                member_task(p, run, route, state, i, values, resources) for i in range(low, high)
            ]
            outcomes = p.batch.add_tasks(job, tasks)
            refused = {t: o for t, o in outcomes.items() if isinstance(o, DropbatchError)}
            if refused:
                tid, why = next(iter(refused.items()))
                if isinstance(why, TransientError):
                    raise why  # the next tick resumes from the watermark
                raise PermanentError(f"Batch refused member {tid} of {run.name}: {why}")
            state = dataclasses.replace(state, created=high, snapshot=resources.taken)
            run = store(p, run, state, now)
    except UnsafeValueError as e:
        end(p, run, state, RunState.REJECTED, f"{run.name}: {e}", now, report)
        return
    except VanishedError as e:
        end(p, run, state, RunState.VANISHED, str(e), now, report)
        return
    if state.created < count:
        return
    if route.merge is not None:
        merge = merge_task(p, run, route, count, MemberResources(p, run, None, merge=True))
        p.batch.add_task(job, merge, pool_for(p, route).pool_id)
        p.batch.end_job_when_done(job)
    state = dataclasses.replace(
        state, phase="running", merge="created" if route.merge is not None else "none"
    )
    reason = f"{count} members on job {job}" + (f", then task {MERGE_TASK}" if route.merge else "")
    if run.state is RunState.RUNNING:
        store(p, dataclasses.replace(run, reason=reason), state, now)
    else:
        move(p, run, RunState.RUNNING, reason, now, state)
        report.moved["running"] += 1

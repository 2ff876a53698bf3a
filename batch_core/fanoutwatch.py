"""Watching a fan-out file's job at any size: each tick reads the job's task counts and one
filtered list of the tasks that changed since the last tick (`stateTransitionTime ge …`), so
a 10,000-member file costs a handful of Batch requests per tick. A failed member is retried
in place (reactivated after the route's backoff, same id, so the merge's dependency holds)
until its attempts are spent; a member Batch requeued (its node was preempted) is simply
active again and costs no attempt. Beyond `tolerate` the job is terminated and the merge
never runs; a failure within `tolerate` takes the member's task out of the job (Batch's
`taskIdRanges` select only tasks that exist), so the merge runs over the others."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from batch_core import outcomes
from batch_core.batch_service import TaskStatus
from batch_core.clock import iso, parse_iso
from batch_core.fanoutend import end, member_reason, store
from batch_core.fanoutstate import MAX_FAILURES, MAX_RETRYING, FanoutState, Retry
from batch_core.fanouttasks import MERGE_TASK
from batch_core.outcomes import backoff, max_attempts
from batch_core.pipeline import Pipeline
from batch_core.routebook import Route
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.stuck import check_stuck
from batch_core.submission import route_of
from batch_core.taskwatch import CLOCK_SKEW
from batch_core.tickreport import TickReport
from worker.contract import (
    TASK_LOG_FILES,
    member_attempt_log_prefix,
    member_prefix,
    output_prefix,
)

log = logging.getLogger(__name__)


def watch(p: Pipeline, run: Run, state: FanoutState, now: dt.datetime, report: TickReport) -> None:
    """One tick of a fan-out file whose members exist."""
    assert run.job_id and state.count is not None
    count = state.count
    route = route_of(p, run)
    assert route.fanout is not None
    counts = p.batch.job_task_counts(run.job_id)
    since = (parse_iso(state.listed_at) if state.listed_at else run.created_at) - CLOCK_SKEW
    changed = p.batch.task_statuses(run.job_id, since)
    state = dataclasses.replace(state, listed_at=iso(now))
    ended = set(state.ended)
    for tid in sorted((t for t in changed if t.isdigit()), key=int):
        if int(tid) not in ended:
            state = _member(p, run, route, state, int(tid), changed[tid], now)
    allowed = route.fanout.tolerate.allowed(count)
    if len(state.ended) > allowed:
        outcome = RunState.REJECTED if state.rejected == len(state.ended) else RunState.FAILED
        end(p, run, state, outcome, _too_many(state, allowed), now, report)
        return
    state = _reactivate_due(p, run, state, now, report)
    merge = changed.get(MERGE_TASK)
    merge_running = merge is not None and merge.state == "running"
    merge_succeeded = merge is not None and merge.state == "completed" and merge.exit_code == 0
    merge_active = state.merge in ("created", "retrying") and not merge_running
    state = dataclasses.replace(
        state,
        # Batch's counts hold the plan task and the merge too: members only here.
        succeeded=max(
            0, counts.get("succeeded", 0) - int(state.planned_by_task) - int(merge_succeeded)
        ),
        running=max(0, counts.get("running", 0) - int(merge_running)),
        waiting=max(0, counts.get("active", 0) - int(merge_active)),
    )
    if route.merge is not None:
        if merge is not None and _merge(p, run, route, state, merge, now, report):
            return
        state = _merge_due(p, run, _merge_state(state, merge), now)
    elif not state.retrying and counts.get("active", 0) + counts.get("running", 0) == 0:
        # Every member ended (the counts lag by seconds at most: the next tick agrees).
        state = dataclasses.replace(state, succeeded=count - len(state.ended))
        end(p, run, state, RunState.SUCCEEDED, _succeeded(state), now, report)
        return
    before = run.updated_at
    run = store(p, run, state, now)
    if run.updated_at == before:
        check_stuck(p, run, now, report)


def _member(
    p: Pipeline,
    run: Run,
    route: Route,
    state: FanoutState,
    index: int,
    status: TaskStatus,
    now: dt.datetime,
) -> FanoutState:
    """What one changed member means: nothing while it runs or waits (a requeued member
    waits again at no cost), a retry or an end when it failed."""
    key = str(index)
    if status.state != "completed":
        return state
    verdict = outcomes.verdict(route, status)
    if verdict.state is RunState.SUCCEEDED:
        if key in state.retrying:
            state = dataclasses.replace(
                state, retrying={k: v for k, v in state.retrying.items() if k != key}
            )
        return state
    earlier = state.retrying.get(key)
    if earlier is not None and earlier.not_before is not None:
        return state  # decided already: waiting for its backoff
    attempts = (earlier.attempts if earlier else 0) + 1
    kept = member_attempt_log_prefix(run.name, run.key, index, attempts)
    _keep_logs(p, member_prefix(run.name, run.key, index), kept)
    assert route.fanout is not None
    retry = (
        verdict.state is RunState.FAILED
        and verdict.retry
        and not route.fanout.fail_fast
        and attempts < max_attempts(p.routes, route, p.settings)
        and (earlier is not None or len(state.retrying) < MAX_RETRYING)
    )
    if retry:
        delay = backoff(p.routes, route, p.settings, attempts)
        retrying = dict(state.retrying) | {key: Retry(attempts, iso(now + delay))}
        log.info(
            "member %d of %s failed (%s); attempt %d", index, run.name, verdict.reason, attempts + 1
        )
        return dataclasses.replace(state, retrying=retrying)
    why = f"member {index} after {attempts} attempt{'s' if attempts > 1 else ''}: {verdict.reason}"
    if len(state.failures) < MAX_FAILURES:
        why = member_reason(p, kept, why)
    kind = "rejected" if verdict.state is RunState.REJECTED else "failed"
    state = state.with_failure(index, kind, why)
    assert run.job_id and state.count is not None
    if route.merge is not None and len(state.ended) <= route.fanout.tolerate.allowed(state.count):
        p.batch.delete_task(run.job_id, key)  # tolerated: the merge no longer waits for it
    return state


def _keep_logs(p: Pipeline, latest: str, kept: str) -> None:
    """A failed attempt's stdout/stderr, copied before the next attempt overwrites them."""
    logs = p.settings.container_logs
    for name in TASK_LOG_FILES:
        p.blobs.copy(logs, f"{latest}/{name}", logs, f"{kept}/{name}")


def _reactivate_due(
    p: Pipeline, run: Run, state: FanoutState, now: dt.datetime, report: TickReport
) -> FanoutState:
    assert run.job_id
    retrying = dict(state.retrying)
    retried = state.retried
    for key, retry in state.retrying.items():
        if retry.not_before is not None and parse_iso(retry.not_before) <= now:
            if p.batch.reactivate_task(run.job_id, key):
                retried += 1
                report.retried += 1
            retrying[key] = Retry(retry.attempts, None)
    return dataclasses.replace(state, retrying=retrying, retried=retried)


def _merge_state(state: FanoutState, merge: TaskStatus | None) -> FanoutState:
    if merge is not None and merge.state == "running":
        return dataclasses.replace(state, merge="running")
    return state


def _merge(
    p: Pipeline,
    run: Run,
    route: Route,
    state: FanoutState,
    merge: TaskStatus,
    now: dt.datetime,
    report: TickReport,
) -> bool:
    """True when the merge ended the file."""
    if merge.state != "completed" or state.merge_next_at is not None:
        return False
    verdict = outcomes.verdict(route, merge)
    if verdict.state is RunState.SUCCEEDED:
        members = (state.count or 0) - len(state.ended)
        done = dataclasses.replace(state, merge="succeeded", succeeded=members)
        end(p, run, done, RunState.SUCCEEDED, _succeeded(done), now, report)
        return True
    attempts = state.merge_attempts + 1
    latest = f"{output_prefix(run.name, run.key)}/{MERGE_TASK}"
    _keep_logs(p, latest, f"{latest}/attempt-{attempts}")
    if (
        verdict.state is RunState.FAILED
        and verdict.retry
        and attempts < max_attempts(p.routes, route, p.settings)
    ):
        delay = backoff(p.routes, route, p.settings, attempts)
        state = dataclasses.replace(
            state, merge="retrying", merge_attempts=attempts, merge_next_at=iso(now + delay)
        )
        store(p, run, state, now)
        return True
    outcome = RunState.REJECTED if verdict.state is RunState.REJECTED else RunState.FAILED
    why = member_reason(p, f"{latest}/attempt-{attempts}", f"the merge failed: {verdict.reason}")
    end(p, run, dataclasses.replace(state, merge=outcome.value), outcome, why, now, report)
    return True


def _merge_due(p: Pipeline, run: Run, state: FanoutState, now: dt.datetime) -> FanoutState:
    if state.merge_next_at is None or parse_iso(state.merge_next_at) > now:
        return state
    assert run.job_id
    p.batch.reactivate_task(run.job_id, MERGE_TASK)
    return dataclasses.replace(state, merge="created", merge_next_at=None)


def _succeeded(state: FanoutState) -> str:
    count = state.count or 0
    text = f"{count - len(state.ended)} of {count} members succeeded"
    if state.ended:
        text += f"; {len(state.ended)} ended failed or rejected (tolerated)"
    if state.merge == "succeeded":
        text += "; the merge succeeded"
    return text


def _too_many(state: FanoutState, allowed: int) -> str:
    shown = "; ".join(f.reason for f in state.failures[:3])
    return (
        f"{len(state.ended)} of {state.count} members ended failed or rejected, more than "
        f"tolerate allows ({allowed}); the job was ended and no merge ran: {shown}"
    )

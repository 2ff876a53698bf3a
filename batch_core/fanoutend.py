"""How a fan-out file ends, and how its progress is stored: its job is ended, its
summary.json written (member counts, the failed members with their reasons, the merge),
a failed file quarantined and alerted; the run document keeps the same counts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from batch_core.errors import DropbatchError
from batch_core.fanoutstate import FanoutState
from batch_core.finish import alert_incident, last_line, quarantine_note, write_summary
from batch_core.moves import advance_or_reread
from batch_core.originals import settle
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.tickreport import TickReport
from worker.contract import MEMBERS_FOLDER, STDERR_FILE, SUMMARY_FILE, output_prefix

log = logging.getLogger(__name__)

MAX_OUTPUTS = 500  # output names listed in summary.json


def state_of(run: Run) -> FanoutState:
    """The fan-out progress a run document holds (a fresh state when it holds none)."""
    return FanoutState.from_dict(dict(run.fanout) if run.fanout is not None else None)


def store(p: Pipeline, run: Run, state: FanoutState, now: dt.datetime) -> Run:
    """Save the progress; `updated_at` moves only when the counts did (a sweep that moves
    is not stuck)."""
    doc = state.to_dict()
    if run.fanout is not None and dict(run.fanout) == doc:
        return run
    progressed = run.fanout is None or state.done != state_of(run).done
    changes: dict[str, Any] = {"fanout": doc}
    if progressed:
        changes["updated_at"] = now
    return p.ledger.save(dataclasses.replace(run, **changes))


def move(
    p: Pipeline,
    run: Run,
    state: RunState,
    reason: str,
    now: dt.datetime,
    fanout: FanoutState,
    **changes: Any,
) -> Run:
    """Advance the run; when another delivery moved it first, its move stands."""
    return advance_or_reread(p, run, state, reason, now, fanout=fanout.to_dict(), **changes)


def member_reason(p: Pipeline, logs_prefix: str, verdict_reason: str) -> str:
    """The verdict, with the last line the member wrote to stderr when there is one."""
    try:
        said = last_line(
            p.blobs.read_tail(p.settings.container_logs, f"{logs_prefix}/{STDERR_FILE}") or b""
        )
    except DropbatchError:
        said = ""
    return f"{verdict_reason}: {said}" if said else verdict_reason


def end(
    p: Pipeline,
    run: Run,
    fanout: FanoutState,
    outcome: RunState,
    reason: str,
    now: dt.datetime,
    report: TickReport,
) -> Run:
    """End the file: stop its job, write its summary, quarantine and alert when it failed."""
    if run.job_id:
        p.batch.terminate_job(run.job_id)
    fanout = dataclasses.replace(fanout, terminated=True, retrying={})
    summary = _summary(p, run, fanout, outcome, reason)
    # Its members and merge are done: the file can leave (see `originals`).
    settled = settle(p, run, outcome)
    if outcome is RunState.FAILED:
        reason = f"{reason}; {quarantine_note(p, settled)}"
    done = move(
        p,
        run,
        outcome,
        reason,
        now,
        fanout,
        summary=_highlights(summary),
        next_attempt_at=None,
        **settled.changes,
    )
    report.moved[outcome.value] += 1
    if done.alert_due:
        report.alerts += alert_incident(p, done, now)
    return done


def _summary(
    p: Pipeline, run: Run, fanout: FanoutState, outcome: RunState, reason: str
) -> dict[str, Any]:
    prefix = output_prefix(run.name, run.key)
    members = f"{prefix}/{MEMBERS_FOLDER}/"
    outputs = [
        b.name[len(prefix) + 1 :]
        for b in p.blobs.list(p.settings.container_results, prefix=f"{prefix}/")
        if not b.name.startswith(members) and not b.name.endswith(f"/{SUMMARY_FILE}")
    ]
    summary: dict[str, Any] = {
        "schema_version": 1,
        "route": run.route,
        "kind": "command",
        "outcome": outcome.value,
        "reason": reason,
        "attempts": run.attempt,
        "members": {
            "planned": fanout.count or 0,
            "succeeded": fanout.succeeded,
            "failed": fanout.failed,
            "rejected": fanout.rejected,
            "retried": fanout.retried,
        },
        "failed_members": [f.to_dict() for f in fanout.failures],
        "merge": fanout.merge,
        "outputs": outputs[:MAX_OUTPUTS],
        "output_count": len(outputs),
        "logs": f"{p.settings.container_logs}/{prefix}/",
    }
    return write_summary(p, prefix, summary)


def _highlights(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "members": summary["members"],
        "output_count": summary["output_count"],
        "merge": summary["merge"],
    }

"""Reconcile: the timer's sweep. Each active run is compared with its Batch task and moved
forward; failures are retried with backoff, then quarantined and alerted; blobs nobody
recorded are submitted; runs stuck too long raise an alert; then cleanup runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from batch_core import cleanup, intake
from batch_core.alerts import Alert
from batch_core.batch_service import TaskStatus
from batch_core.errors import DropbatchError
from batch_core.keys import file_key, output_prefix
from batch_core.pipeline import Pipeline
from batch_core.routes import Route, no_route_reason, route_for
from batch_core.run import Run
from batch_core.states import RunState, TaskVerdict, verdict_for_task
from batch_core.submission import job_id_for
from batch_core.taskwatch import UNCHANGED, TaskWatch

log = logging.getLogger(__name__)

# A blob younger than this is left to its trigger before the sweep submits it.
SWEEP_GRACE = dt.timedelta(seconds=30)
# A run recorded but never planned (its trigger died in between) is picked up after this.
RECEIVED_GRACE = dt.timedelta(seconds=30)
MAX_CHILDREN = 500  # child names kept in a zip's run document
MAX_GROUPS = 50  # summary groups kept in a run document
SUMMARY_HIGHLIGHTS = (
    "rows",
    "documents",
    "rejects",
    "rows_without_coordinates",
    "groups",
    "children",
)


@dataclass
class TickReport:
    examined: int = 0
    moved: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    swept: int = 0
    alerts: int = 0
    errors: list[str] = field(default_factory=list)
    cleanup: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "moved": dict(self.moved),
            "retried": self.retried,
            "swept": self.swept,
            "alerts": self.alerts,
            "errors": self.errors,
            "cleanup": self.cleanup,
        }


@dataclass
class SweepGate:
    """How often the sweep lists the incoming container (it grows with every file). The
    function app keeps one for its lifetime; without a gate every tick sweeps."""

    every: dt.timedelta
    last: dt.datetime | None = None

    def due(self, now: dt.datetime) -> bool:
        return self.last is None or now - self.last >= self.every


def tick(p: Pipeline, now: dt.datetime, gate: SweepGate | None = None) -> TickReport:
    report = TickReport()
    active: list[Run] = []
    _guarded(report, "reading active runs", lambda: active.extend(p.ledger.active()))
    watch = TaskWatch(p.batch, (r for r in active if not _backing_off(r, now)), now)
    for run in active:
        report.examined += 1
        what = f"run {run.key} ({run.name})"
        error = _guarded(report, what, partial(_reconcile, p, watch, run, now, report))
        if error is not None:
            # A run whose every tick fails still ends up in front of an operator.
            _guarded(report, f"{what} stuck", partial(_check_stuck, p, run, now, report, error))
    failed: list[Run] = []
    _guarded(report, "reading failed runs", lambda: failed.extend(p.ledger.unalerted_failures()))
    for run in failed:
        _guarded(report, f"alert for {run.name}", partial(_count_alert, p, run, now, report))
    _guarded(report, "poison queue", partial(_poisoned, p, now, report))
    _guarded(report, "alert delivery", p.alerts.redeliver)
    if gate is None or gate.due(now):
        _guarded(
            report, f"sweep of {p.settings.container_incoming}", partial(_sweep, p, now, report)
        )
        if gate is not None:
            gate.last = now
    busy = frozenset(r.job_id for r in active if r.job_id)
    _guarded(report, "cleanup", lambda: report.cleanup.update(cleanup.sweep(p, now, busy)))
    log.info("reconcile tick: %s", report.as_dict(), extra={"tick": report.as_dict()})
    return report


def _guarded(report: TickReport, what: str, step: Callable[[], object]) -> str | None:
    """Run one step of the tick; its failure is logged and reported, and the rest go on (it is
    looked at again next tick). Returns the error, if any."""
    try:
        step()
    except DropbatchError as e:
        log.warning("reconcile: %s failed: %s", what, e)
        report.errors.append(f"{what}: {e}")
        return str(e)
    except Exception as e:  # an unexpected fault in one run must not starve the others
        log.exception("reconcile: %s failed unexpectedly", what)
        report.errors.append(f"{what}: {type(e).__name__}: {e}")
        return f"{type(e).__name__}: {e}"
    return None


def _count_alert(p: Pipeline, run: Run, now: dt.datetime, report: TickReport) -> None:
    report.alerts += _alert_failure(p, run, now)


def _backing_off(run: Run, now: dt.datetime) -> bool:
    return run.next_attempt_at is not None and now < run.next_attempt_at


def _reconcile(
    p: Pipeline, watch: TaskWatch, run: Run, now: dt.datetime, report: TickReport
) -> None:
    if run.state is RunState.RECEIVED:
        if now - run.updated_at < RECEIVED_GRACE:
            return
        if run.route == Route.NONE:  # its trigger died before rejecting it
            p.ledger.advance(run, RunState.REJECTED, no_route_reason(run.name), now)
            report.moved["rejected"] += 1
            return
        intake.submit(p, run, max(run.attempt, 1), now)
        report.moved["submitted"] += 1
        return
    if _backing_off(run, now):
        return  # waiting before the next attempt
    if not run.job_id or not run.task_id:
        intake.submit(p, run, max(run.attempt, 1), now)  # a run stored without its plan
        return
    status = watch.status(run)
    if status is UNCHANGED:
        _check_stuck(p, run, now, report)
        return
    if status is None:
        _create_missing_task(p, run, now, report)
        return
    verdict = verdict_for_task(status.state, status.exit_code, status.failure)
    if verdict.state is None or verdict.state is RunState.RUNNING:
        if verdict.state is RunState.RUNNING and run.state is not RunState.RUNNING:
            p.ledger.advance(run, RunState.RUNNING, f"task {run.task_id} running", now)
            report.moved["running"] += 1
        _check_stuck(p, run, now, report)
        return
    _finish(p, run, status, verdict, now, report)


def _create_missing_task(p: Pipeline, run: Run, now: dt.datetime, report: TickReport) -> None:
    """The ledger planned a task that Batch does not have: the file vanished, or creating the
    task failed (or its job was cleaned away). Create it, unless the file is gone."""
    etag = p.blobs.current_etag(run.container, run.name)
    if etag != run.etag:
        why = "deleted" if etag is None else "replaced by a newer version"
        p.ledger.advance(run, RunState.VANISHED, f"the blob was {why} before it was processed", now)
        report.moved["vanished"] += 1
        return
    if run.job_id != job_id_for(p.settings, now.date()):
        # Planned on an earlier day's job, which cleanup may have ended: plan it on today's.
        run = intake.plan(p, run, run.attempt, now)
    elif run.next_attempt_at is not None:
        run = p.ledger.save(_without_backoff(run))
    intake.create_task(p, run)
    log.info("created planned task %s for %s", run.task_id, run.name)


def _without_backoff(run: Run) -> Run:
    return dataclasses.replace(run, next_attempt_at=None)


def _finish(
    p: Pipeline,
    run: Run,
    status: TaskStatus,
    verdict: TaskVerdict,
    now: dt.datetime,
    report: TickReport,
) -> None:
    stderr = b""
    try:
        stderr = _keep_task_output(p, run)
    except DropbatchError as e:  # logs are worth keeping, but not worth blocking the run's end
        log.warning("could not keep the output of task %s: %s", run.task_id, e)
    prefix = output_prefix(run.name, run.key)
    summary = p.blobs.read_json(p.settings.container_results, f"{prefix}/summary.json") or {}
    state = verdict.state or RunState.FAILED
    if state is RunState.FAILED and verdict.retry and run.attempt < p.settings.max_attempts:
        delay = dt.timedelta(seconds=p.settings.retry_backoff_seconds * 2 ** (run.attempt - 1))
        intake.plan(p, run, run.attempt + 1, now, not_before=now + delay)
        log.warning(
            "run %s attempt %d failed (%s); attempt %d in %ds",
            run.key, run.attempt, verdict.reason, run.attempt + 1, delay.total_seconds(),
        )  # fmt: skip
        report.retried += 1
        return
    reason = str(summary.get("reason") or verdict.reason)
    changes: dict[str, Any] = {"summary": highlights(summary)}
    if state is RunState.SUCCEEDED and run.route == "zip":
        children = [c for c in summary.get("children") or [] if isinstance(c, dict)]
        # The run document stays small (Cosmos items are 2 MB at most): the full list is in
        # the zip's summary.json.
        changes["children"] = tuple(str(c.get("blob", "")) for c in children[:MAX_CHILDREN])
        changes["summary"]["children"] = len(children)
    if state is RunState.FAILED:
        attempts = f" after {run.attempt} attempt{'s' if run.attempt > 1 else ''}"
        said = last_line(stderr)
        cause = f"{verdict.reason} ({said})" if said else verdict.reason
        reason = f"{cause}{attempts}; quarantined in {p.settings.container_failed}"
        quarantined = p.blobs.copy(
            run.container, run.name, p.settings.container_failed, f"{prefix}/{_base(run.name)}"
        )
        if not quarantined:
            reason = f"{cause}{attempts}; the blob is gone, nothing to quarantine"
    if state in (RunState.FAILED, RunState.VANISHED):
        # An attempt may have written part of the file's documents: none may outlive the run.
        removed = p.records.purge(run.key)
        if removed:
            reason = f"{reason}; {removed} partly written documents removed"
    done = p.ledger.advance(run, state, reason, now, **changes)
    report.moved[state.value] += 1
    if state is RunState.FAILED:
        report.alerts += _alert_failure(p, done, now)


def _alert_failure(p: Pipeline, run: Run, now: dt.datetime) -> int:
    """Alert on a failed run, then mark it alerted. The state is stored first, so a crash in
    between leaves a failed, unalerted run that the next tick alerts on (deduplicated)."""
    prefix = output_prefix(run.name, run.key)
    raised = p.alerts.raise_alert(
        Alert(
            kind="failed",
            subject=f"{run.container}/{run.name}",
            message=(
                f"{run.reason}. Task logs: {p.settings.container_logs}/{prefix}/. "
                "Fix the cause, then upload the file again to reprocess it."
            ),
            at=now,
            run_key=run.key,
        )
    )
    p.ledger.save(dataclasses.replace(run, alerted=True))
    return int(raised)


def highlights(summary: dict[str, Any]) -> dict[str, Any]:
    """What of a summary.json the run document keeps: counts, and the groups when few."""
    kept = {k: summary[k] for k in SUMMARY_HIGHLIGHTS if k in summary and k != "children"}
    groups = kept.get("groups")
    if isinstance(groups, dict) and len(groups) > MAX_GROUPS:
        kept["groups"] = None
        kept["group_count"] = len(groups)
    return kept


def _keep_task_output(p: Pipeline, run: Run) -> bytes:
    """Copy the task's stdout and stderr to the logs container before Batch deletes them;
    return stderr."""
    if not run.job_id or not run.task_id:
        return b""
    prefix = output_prefix(run.name, run.key)
    stderr = b""
    for name in ("stdout.txt", "stderr.txt"):
        data = p.batch.task_file(run.job_id, run.task_id, name)
        if data is not None:
            p.blobs.write(
                p.settings.container_logs,
                f"{prefix}/attempt-{run.attempt}/{name}",
                data,
                "text/plain; charset=utf-8",
            )
            if name == "stderr.txt":
                stderr = data
    return stderr


def last_line(output: bytes, limit: int = 300) -> str:
    """The last non-empty line a failed worker wrote (its error), shortened for a reason."""
    lines = [x.strip() for x in output.decode("utf-8", "replace").splitlines() if x.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def is_stuck(run: Run, now: dt.datetime, stuck_after_seconds: int) -> bool:
    """An active run that has not moved for `stuck_after_seconds` (the stuck alert's rule)."""
    limit = dt.timedelta(seconds=stuck_after_seconds)
    return not run.state.terminal and now - run.updated_at >= limit


def _check_stuck(
    p: Pipeline, run: Run, now: dt.datetime, report: TickReport, error: str | None = None
) -> None:
    if not is_stuck(run, now, p.settings.stuck_after_seconds):
        return
    cause = (
        f"The reconciler fails on it: {error}."
        if error
        else "Check the pool has nodes and the task is not hung."
    )
    raised = p.alerts.raise_alert(
        Alert(
            kind="stuck",
            subject=f"{run.container}/{run.name}",
            message=(
                f"run {run.key} has been {run.state.value} since {run.updated_at:%Y-%m-%d %H:%M}Z "
                f"(task {run.task_id} on job {run.job_id}). {cause} "
                "The reconciler keeps watching it."
            ),
            at=now,
            run_key=run.key,
            severity="warning",
        )
    )
    report.alerts += int(raised)


def _poisoned(p: Pipeline, now: dt.datetime, report: TickReport) -> None:
    """Alert on each blob whose trigger failed every try; the sweep still submits the file."""
    for message in p.poison.take():
        raised = p.alerts.raise_alert(
            Alert(
                kind="poison",
                subject=f"{message.container}/{message.name}",
                message=(
                    f"the blob trigger ({message.function}) failed on every try for this file "
                    f"(etag {message.etag}). The reconciler's sweep submits it anyway; look at "
                    "the function app's log for the trigger's error."
                ),
                at=now,
                run_key=message.etag or None,
                severity="warning",
            )
        )
        p.poison.delete(message)  # only once the alert is stored
        report.alerts += int(raised)


def _sweep(p: Pipeline, now: dt.datetime, report: TickReport) -> None:
    """Submit blobs in the incoming container that no trigger recorded (missed events)."""
    container = p.settings.container_incoming
    known = p.ledger.keys_in(container)
    for blob in p.blobs.list(container):
        if route_for(blob.name, p.settings.ignore_prefixes) is Route.IGNORE:
            continue
        if file_key(p.blobs.account, container, blob.name, blob.etag) in known:
            continue
        if blob.last_modified is not None and now - blob.last_modified < SWEEP_GRACE:
            continue
        log.warning("sweep: %s/%s has no run (missed trigger); submitting it", container, blob.name)
        if _guarded(report, f"sweep of {blob.name}", partial(intake.receive, p, blob, now)) is None:
            report.swept += 1


def _base(name: str) -> str:
    return name.rsplit("/", 1)[-1]

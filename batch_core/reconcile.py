"""Reconcile: the timer's tick and its error policy. Each active run is moved forward
(`runflow`), failed runs nobody was told about are alerted, poisoned triggers are announced,
blobs nobody recorded are submitted (`sweep`), then cleanup runs. Every step is guarded on its
own: one failure is reported and the rest go on; the next tick looks again."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from batch_core import cleanup, fanoutflow, runflow, telemetry
from batch_core.alerts import digest_alert, poison_alert
from batch_core.errors import DropbatchError
from batch_core.finish import alert_incident
from batch_core.ledger import RunFilter
from batch_core.originals import settle_ended
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.stuck import check_stuck
from batch_core.sweep import sweep
from batch_core.taskwatch import TaskWatch
from batch_core.tickreport import TickReport

log = logging.getLogger(__name__)

DIGEST_RUNS = 5000  # at most this many of the day's runs are counted in the digest


@dataclass
class SweepGate:
    """How often the sweep lists the incoming container (it grows with every file). The
    function app keeps one for its lifetime; without a gate every tick sweeps."""

    every: dt.timedelta
    last: dt.datetime | None = None

    def due(self, now: dt.datetime) -> bool:
        """Whether the sweep it guards should run at `now`."""
        return self.last is None or now - self.last >= self.every


def tick(p: Pipeline, now: dt.datetime, gate: SweepGate | None = None) -> TickReport:
    """One reconcile pass over the ledger, Batch, the poison queue and `incoming`."""
    started = time.monotonic()
    with telemetry.span("tick"):
        report = _tick(p, now, gate)
        telemetry.annotate(examined=report.examined, moved=sum(report.moved.values()))
        telemetry.annotate(swept=report.swept, alerts=report.alerts, errors=len(report.errors))
    telemetry.record("tick_duration", time.monotonic() - started)
    return report


def _tick(p: Pipeline, now: dt.datetime, gate: SweepGate | None) -> TickReport:
    report = TickReport()
    guard = partial(_guarded, report)
    active: list[Run] = []
    unread = guard("reading active runs", lambda: active.extend(p.ledger.active()))
    singles = (r for r in active if not runflow.backing_off(r, now) and not r.fanout)
    watch = TaskWatch(p.batch, singles, now)
    admission = fanoutflow.Admission.of(p, active)
    for run in active:
        report.examined += 1
        what = f"run {run.key} ({run.name})"
        if fanoutflow.is_fanout(run):
            step = partial(fanoutflow.advance, p, admission, run, now, report)
        else:
            step = partial(runflow.advance, p, watch, run, now, report)
        error = guard(what, step)
        if error is not None:
            # A run whose every tick fails still ends up in front of an operator.
            guard(f"{what} stuck", partial(check_stuck, p, run, now, report, error))
    untold: list[Run] = []
    guard("reading unalerted runs", lambda: untold.extend(p.ledger.unalerted()))
    for run in untold:
        guard(f"alert for {run.name}", partial(_count_alert, p, run, now, report))
    guard("moving ended files", partial(_settle, p, report))
    guard("poison queue", partial(_poisoned, p, now, report))
    guard("alert delivery", partial(p.alerts.redeliver, now))
    if p.settings.digest_hour is not None and now.hour == p.settings.digest_hour:
        guard("daily digest", partial(_digest, p, now, report))
    if gate is None or gate.due(now):
        guard(f"sweep of {p.settings.container_incoming}", partial(sweep, p, now, report, guard))
        if gate is not None:
            gate.last = now
    busy = frozenset(r.job_id for r in active if r.job_id)
    if unread is None:  # without the active runs, cleanup cannot tell which jobs are busy
        guard("cleanup", lambda: report.cleanup.update(cleanup.sweep(p, now, busy)))
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


def _settle(p: Pipeline, report: TickReport) -> None:
    """Ended runs' files still in `incoming` leave it (see `originals`)."""
    report.cleanup["originals_moved"] = settle_ended(p)


def _count_alert(p: Pipeline, run: Run, now: dt.datetime, report: TickReport) -> None:
    report.alerts += alert_incident(p, run, now)


def _digest(p: Pipeline, now: dt.datetime, report: TickReport) -> None:
    """The day's digest, once (its alert id is the date): runs ended in the last 24 hours."""
    since = now - dt.timedelta(days=1)
    runs = [
        r for r in p.ledger.newest(RunFilter(updated_since=since), DIGEST_RUNS) if r.state.terminal
    ]
    report.alerts += int(p.alerts.raise_alert(digest_alert(runs, now)))


def _poisoned(p: Pipeline, now: dt.datetime, report: TickReport) -> None:
    """Alert on each blob whose trigger failed every try; the sweep still submits the file."""
    for message in p.poison.take():
        raised = p.alerts.raise_alert(poison_alert(message, now))
        p.poison.delete(message)  # only once the alert is stored
        report.alerts += int(raised)

"""What finishing means: a run's task has ended. Either another attempt is planned (with
backoff), or the run takes its terminal state — with its summary's highlights, its file
archived (or quarantined, with its partly written documents removed, when it failed; see
`originals`), and an alert."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

from batch_core import intake
from batch_core.alerts import failed_alert, rejected_alert
from batch_core.batch_service import TaskStatus
from batch_core.errors import DropbatchError
from batch_core.originals import Settled, settle
from batch_core.outcomes import backoff, max_attempts
from batch_core.pipeline import Pipeline
from batch_core.routebook import Route
from batch_core.run import Run
from batch_core.states import RunState, TaskVerdict
from batch_core.tickreport import TickReport
from worker.contract import STDERR_FILE, SUMMARY_FILE, attempt_log_prefix, output_prefix

log = logging.getLogger(__name__)

MAX_CHILDREN = 500  # child names kept in a zip's run document
MAX_GROUPS = 50  # summary groups kept in a run document
SUMMARY_HIGHLIGHTS = (
    "exit_code",
    "output_count",
    "rows",
    "documents",
    "rejects",
    "rows_without_coordinates",
    "groups",
    "children",
)


def finish(
    p: Pipeline,
    run: Run,
    route: Route,
    verdict: TaskVerdict,
    status: TaskStatus,
    now: dt.datetime,
    report: TickReport,
) -> None:
    """Retry `run` or move it to its terminal state, from its ended task's verdict. The
    attempt's stdout and stderr are in `logs` already (the task's output files)."""
    prefix = output_prefix(run.name, run.key)
    stderr = _stderr(p, run)
    state = verdict.state or RunState.FAILED
    if (
        state is RunState.FAILED
        and verdict.retry
        and run.attempt < max_attempts(p.routes, route, p.settings)
    ):
        delay = backoff(p.routes, route, p.settings, run.attempt)
        intake.plan(p, run, run.attempt + 1, now, not_before=now + delay)
        log.warning(
            "run %s attempt %d failed (%s); attempt %d in %ds",
            run.key, run.attempt, verdict.reason, run.attempt + 1, delay.total_seconds(),
        )  # fmt: skip
        report.retried += 1
        return
    if route.kind == "command":
        summary = _command_summary(p, run, route, state, verdict, status, stderr)
    else:
        summary = p.blobs.read_json(p.settings.container_results, f"{prefix}/{SUMMARY_FILE}") or {}
    reason = str(summary.get("reason") or verdict.reason)
    changes: dict[str, Any] = {"summary": highlights(summary)}
    if state is RunState.SUCCEEDED and route.kind == "zip":
        children = [c for c in summary.get("children") or [] if isinstance(c, dict)]
        # The run document stays small (Cosmos items are 2 MB at most): the full list is in
        # the zip's summary.json.
        changes["children"] = tuple(str(c.get("blob", "")) for c in children[:MAX_CHILDREN])
        changes["summary"]["children"] = len(children)
    # The file moves before the run ends: a crash in between leaves the run to finish again.
    settled = settle(p, run, state)
    changes.update(settled.changes)
    if state is RunState.FAILED:
        reason = _quarantined(p, run, settled, verdict.reason, last_line(stderr))
    if state in (RunState.FAILED, RunState.VANISHED):
        # An attempt may have written part of the file's documents: none may outlive the run.
        removed = p.records.purge(run.key)
        if removed:
            reason = f"{reason}; {removed} partly written documents removed"
    done = p.ledger.advance(run, state, reason, now, **changes)
    report.moved[state.value] += 1
    if done.alert_due:
        report.alerts += alert_incident(p, done, now)


def _stderr(p: Pipeline, run: Run) -> bytes:
    """The end of the attempt's stderr, as its output files uploaded it (empty when the task
    never ran, or its upload failed: the verdict's reason says so)."""
    name = f"{attempt_log_prefix(run.name, run.key, run.attempt)}/{STDERR_FILE}"
    try:
        return p.blobs.read_tail(p.settings.container_logs, name) or b""
    except DropbatchError as e:  # worth quoting, not worth blocking the run's end
        log.warning("could not read %s: %s", name, e)
        return b""


def _command_summary(
    p: Pipeline,
    run: Run,
    route: Route,
    state: RunState,
    verdict: TaskVerdict,
    status: TaskStatus,
    stderr: bytes,
) -> dict[str, Any]:
    """results/<name>/<file key>/summary.json of a command run: route, outcome, exit code,
    attempts and the outputs the task wrote; its reason quotes stderr's last line."""
    prefix = output_prefix(run.name, run.key)
    logs = attempt_log_prefix(run.name, run.key, run.attempt)
    said = last_line(stderr)
    reason = None
    if state is RunState.REJECTED:
        reason = f"{run.name}: {said}" if said else f"{run.name}: {verdict.reason}"
    outputs = [
        b.name[len(prefix) + 1 :]
        for b in p.blobs.list(p.settings.container_results, prefix=f"{prefix}/")
        if not b.name.endswith(f"/{SUMMARY_FILE}")
    ]
    summary: dict[str, Any] = {
        "schema_version": 1,
        "route": route.name,
        "kind": route.kind,
        "outcome": state.value,
        "exit_code": status.exit_code,
        "attempts": run.attempt,
        "reason": reason,
        "outputs": outputs[:MAX_CHILDREN],
        "output_count": len(outputs),
        "logs": f"{p.settings.container_logs}/{logs}/",
    }
    return write_summary(p, prefix, summary)


def write_summary(p: Pipeline, prefix: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Write `results/<prefix>/summary.json` (what `dropbatch status` and the page read)."""
    p.blobs.write(
        p.settings.container_results,
        f"{prefix}/{SUMMARY_FILE}",
        json.dumps(summary, indent=2),
        "application/json",
    )
    return summary


def _quarantined(p: Pipeline, run: Run, settled: Settled, why: str, said: str) -> str:
    """The reason of a failed run whose file `settle` quarantined (or found gone)."""
    attempts = f" after {run.attempt} attempt{'s' if run.attempt > 1 else ''}"
    cause = f"{why} ({said})" if said else why
    return f"{cause}{attempts}; {quarantine_note(p, settled)}"


def quarantine_note(p: Pipeline, settled: Settled) -> str:
    """How a failed run's reason ends: where its file was quarantined, or that it was gone."""
    if settled.kept is None:
        return "the blob is gone, nothing to quarantine"
    return f"quarantined in {p.settings.container_failed}"


def alert_incident(p: Pipeline, run: Run, now: dt.datetime) -> int:
    """Alert on a failed or rejected run, then mark it alerted. The state is stored first
    (with `alert_due`), so a crash in between leaves a run that the next tick alerts on
    (deduplicated by the alert's id). Rejections raise no alert when
    DROPBATCH_ALERT_ON_REJECTED is false; the run is marked all the same."""
    raised = False
    if run.state is RunState.FAILED:
        raised = p.alerts.raise_alert(failed_alert(run, p.settings.container_logs, now))
    elif run.state is RunState.REJECTED and p.settings.alert_on_rejected:
        raised = p.alerts.raise_alert(rejected_alert(run, p.settings.container_results, now))
    p.ledger.save(dataclasses.replace(run, alerted=True, alert_due=False))
    return int(raised)


def highlights(summary: dict[str, Any]) -> dict[str, Any]:
    """What of a summary.json the run document keeps: counts, and the groups when few."""
    kept = {k: summary[k] for k in SUMMARY_HIGHLIGHTS if k in summary and k != "children"}
    groups = kept.get("groups")
    if isinstance(groups, dict) and len(groups) > MAX_GROUPS:
        kept["groups"] = None
        kept["group_count"] = len(groups)
    return kept


def last_line(output: bytes, limit: int = 300) -> str:
    """The last non-empty line a failed worker wrote (its error), shortened for a reason."""
    lines = [x.strip() for x in output.decode("utf-8", "replace").splitlines() if x.strip()]
    if not lines:
        return ""
    line = lines[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"

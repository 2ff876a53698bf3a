"""One run as `dropbatch status NAME_OR_KEY` shows it: its document (history, attempts,
summary highlights), the blobs it left (outputs, the logs of each attempt, its quarantined
file) and, for a run that failed or was rejected, where to look next."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from batch_core.clock import iso
from batch_core.errors import NotFoundError, PermanentError
from batch_core.fanoutstate import FanoutState, members_cell
from batch_core.ledger import RunFilter
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.states import RunState
from worker.contract import (
    REJECTS_FILE,
    STDERR_FILE,
    SUMMARY_FILE,
    TASK_LOG_FILES,
    WORKER_LOG_FILE,
    attempt_log_prefix,
    output_prefix,
)

MIN_KEY_PREFIX = 8
_HEX = re.compile(r"[0-9a-f]+")
NAME_SCAN_LIMIT = 1000  # runs whose name contains the one asked for, newest first
REPLAYS_FOLDER = "_replays"  # results/_replays/<replay id>/<old file key>: one per replay


def find_run(p: Pipeline, name_or_key: str) -> Run:
    """The run a file key names (or the start of one, 8 hex characters at least), else the
    newest run of the blob named so (`incoming/` in front is allowed). NotFoundError says
    what was looked for; PermanentError lists the runs a short key prefix matches."""
    text = name_or_key.strip()
    if len(text) >= MIN_KEY_PREFIX and _HEX.fullmatch(text):
        found = p.ledger.newest(RunFilter(key_prefix=text), 11)
        if len(found) == 1:
            return found[0]
        if found:
            keys = ", ".join(f"{r.key} ({r.name})" for r in found[:10])
            raise PermanentError(f"{len(found)} or more runs have a key starting {text}: {keys}")
    name = text.removeprefix(f"{p.settings.container_incoming}/")
    for run in p.ledger.newest(RunFilter(name_contains=name), NAME_SCAN_LIMIT):
        if run.name == name and run.container == p.settings.container_incoming:
            return run
    raise NotFoundError(
        f"no run has the key or the blob name {text!r}: `dropbatch status` lists recent runs"
    )


@dataclass(frozen=True)
class Attempt:
    """One attempt of a run: where its logs are and which of them exist."""

    number: int
    logs: str  # container/prefix/ of its stdout and stderr
    files: tuple[str, ...]  # which of them are there


@dataclass(frozen=True)
class RunView:
    """One run as `dropbatch status NAME` shows it: the run, its outputs, attempts and logs."""

    run: Run
    outputs: tuple[str, ...]  # results/<name>/<key>/... blob paths
    attempts: tuple[Attempt, ...]
    worker_log: str | None
    quarantined: str | None
    replays: tuple[dict[str, Any], ...]  # the replays of this run (their markers)
    look: tuple[str, ...]  # where to look, for a failed or rejected run

    def as_dict(self) -> dict[str, Any]:
        """The view as `dropbatch status NAME --json` prints it."""
        fanout = (
            FanoutState.from_dict(dict(self.run.fanout)).progress() if self.run.fanout else None
        )
        return {
            "run": self.run.to_doc(),
            "fanout": fanout,
            "outputs": list(self.outputs),
            "attempts": [
                {"attempt": a.number, "logs": a.logs, "files": list(a.files)} for a in self.attempts
            ],
            "worker_log": self.worker_log,
            "quarantined": self.quarantined,
            "replays": list(self.replays),
            "where_to_look": list(self.look),
        }


def view(p: Pipeline, run: Run) -> RunView:
    """Gather what `run` left in storage."""
    s = p.settings
    prefix = output_prefix(run.name, run.key)
    outputs = tuple(
        f"{s.container_results}/{b.name}" for b in p.blobs.list(s.container_results, f"{prefix}/")
    )
    logs = {b.name for b in p.blobs.list(s.container_logs, f"{prefix}/")}
    attempts = []
    for n in range(1, run.attempt + 1):
        folder = attempt_log_prefix(run.name, run.key, n)
        files = tuple(f for f in TASK_LOG_FILES if f"{folder}/{f}" in logs)
        attempts.append(Attempt(n, f"{s.container_logs}/{folder}/", files))
    worker_log = f"{prefix}/{WORKER_LOG_FILE}"
    quarantine = f"{prefix}/{run.name.rsplit('/', 1)[-1]}"
    quarantined = any(b.name == quarantine for b in p.blobs.list(s.container_failed, quarantine))
    found = RunView(
        run=run,
        outputs=outputs,
        attempts=tuple(attempts),
        worker_log=f"{s.container_logs}/{worker_log}" if worker_log in logs else None,
        quarantined=f"{s.container_failed}/{quarantine}" if quarantined else None,
        replays=tuple(replays_of(p, run.key)),
        look=(),
    )
    return dataclasses.replace(found, look=tuple(where_to_look(found)))


def replays_of(p: Pipeline, key: str) -> list[dict[str, Any]]:
    """The markers `dropbatch replay` left for the run `key`, oldest replay id first."""
    results = p.settings.container_results
    found = []
    for b in p.blobs.list(results, f"{REPLAYS_FOLDER}/"):
        if b.name.endswith(f"/{key}"):
            found.append(p.blobs.read_json(results, b.name) or {"marker": b.name})
    return found


def where_to_look(v: RunView) -> list[str]:
    """Hints for a failed or rejected run, most telling first; none for other states."""
    run = v.run
    if run.state not in (RunState.FAILED, RunState.REJECTED):
        return []
    hints = [f"the reason: {run.reason}"]
    for a in reversed(v.attempts):
        if STDERR_FILE in a.files:
            hints.append(f"the error output of attempt {a.number}: {a.logs}{STDERR_FILE}")
            break
    if v.worker_log:
        hints.append(f"the worker's task log (phases, counts): {v.worker_log}")
    for path in v.outputs:
        if path.endswith(f"/{REJECTS_FILE}"):
            hints.append(f"the rows that were refused, with their reasons: {path}")
        elif path.endswith(f"/{SUMMARY_FILE}"):
            hints.append(f"the run's summary: {path}")
    if run.route == "none":
        hints.append("no route matched the name: `dropbatch routes check` shows the routes")
    if v.quarantined:
        hints.append(f"the file as it was processed: {v.quarantined}")
    if run.state is RunState.FAILED:
        hints.append(f"when the cause is fixed: dropbatch replay {run.name} --state failed")
    return hints


def text(v: RunView) -> str:
    """The view for a terminal."""
    run = v.run
    lines = [
        f"{run.container}/{run.name}",
        f"  key       {run.key}",
        f"  state     {run.state.value}: {run.reason}",
        f"  route     {run.route}, {run.size} bytes, etag {run.etag}",
        f"  created   {_when(run.created_at)}, updated {_when(run.updated_at)}",
    ]
    lines.extend(_links(run))
    for marker in v.replays:
        lines.append(f"  replayed  as {marker.get('new_key')} (replay {marker.get('replay_id')})")
    if run.summary:
        summary = ", ".join(f"{k} {val}" for k, val in run.summary.items() if val is not None)
        lines.append(f"  summary   {summary}")
    if run.fanout is not None:
        lines.extend(_fanout_lines(run))
    lines.append("history")
    for h in run.history:
        at = h.get("at", "")[:19].replace("T", " ")
        lines.append(f"  {at}  {h.get('state', ''):<9}  {h.get('reason', '')}")
    lines.append("attempts" if v.attempts else "attempts  none yet")
    for a in v.attempts:
        there = ", ".join(a.files) if a.files else "no task output kept"
        lines.append(f"  {a.number}  {a.logs}  ({there})")
    if v.worker_log:
        lines.append(f"worker log  {v.worker_log}")
    lines.append("outputs" if v.outputs else "outputs  none")
    lines.extend(f"  {o}" for o in v.outputs)
    if v.quarantined:
        lines.append(f"quarantined  {v.quarantined}")
    if v.run.original and v.run.original != v.quarantined:
        lines.append(f"file now in  {v.run.original}")
    elif v.run.input_removed and not v.run.original:
        lines.append(f"file  deleted from {v.run.container} once the run ended")
    if v.look:
        lines.append("where to look")
        lines.extend(f"  - {h}" for h in v.look)
    return "\n".join(lines)


def _links(run: Run) -> list[str]:
    """The run's task, the zip it came from, the files it gave, the run it replays."""
    lines = []
    if run.job_id:
        lines.append(f"  task      {run.task_id} on job {run.job_id}")
    if run.parent:
        lines.append(f"  parent    {run.parent} (the zip this file came from)")
    if run.children:
        lines.append(f"  children  {len(run.children)} files extracted")
    if run.replay_of:
        lines.append(f"  replay of {run.replay_of}")
    return lines


def _fanout_lines(run: Run) -> list[str]:
    """A fan-out file's members: counts, the merge, the failed members and where to look."""
    progress = FanoutState.from_dict(dict(run.fanout or {})).progress()
    prefix = output_prefix(run.name, run.key)
    lines = [
        f"  members   {members_cell(run)}; {progress['running']} running, "
        f"{progress['retrying']} waiting to retry; merge {progress['merge']}",
        f"            results/{prefix}/members/<i>/, logs/{prefix}/members/<i>/attempt-N/",
    ]
    for f in progress["failed_members"]:
        lines.append(f"  member {f['index']:<4} {f['state']}: {f['reason']}")
    return lines


def _when(at: Any) -> str:
    return iso(at)[:19].replace("T", " ")

"""What a cell checks, on what it observed once the fault is cleared (`Observed`, plain data
so that a test can hand it a broken outcome): every file ended as expected, once; no more
Batch tasks than attempts; Cosmos holds exactly the records of the CSVs' rows; summaries are
exact; one alert per failed or rejected file and none for the others."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batch_core.jobs import FANOUT_KEY_CHARS
from batch_core.keys import task_attempt
from batch_core.states import TERMINAL
from devstack.chaos.workload import Expected
from devstack.verdict import Verdict
from worker.document import document_id


@dataclass(frozen=True)
class RunSeen:
    """A ledger run, as much of it as the checks read."""

    key: str
    name: str
    state: str
    attempt: int
    parent: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Observed:
    runs: list[RunSeen]
    tasks: Counter[str]  # Batch task id → how many of the cell's jobs hold it
    records: dict[str, set[str]]  # run key → the record ids Cosmos holds in its partition
    alerts: list[tuple[str, str]]  # (run key, kind) of the alerts about the cell's runs
    # A fan-out file's own job (by the first 16 characters of its key) → its task ids.
    fanout_jobs: dict[str, list[str]] = field(default_factory=dict)


def check(expected: list[Expected], seen: Observed) -> Verdict:
    """The verdict on one cell."""
    verdict = Verdict()
    by_name: dict[str, list[RunSeen]] = {}
    for run in seen.runs:
        if run.parent is None:
            by_name.setdefault(run.name, []).append(run)
    children: dict[str, list[RunSeen]] = {}
    for run in seen.runs:
        if run.parent is not None:
            children.setdefault(run.parent, []).append(run)
    alerts = Counter(key for key, _ in seen.alerts)
    for want in expected:
        runs = by_name.get(want.name, [])
        if not runs:
            verdict.note("lost", f"{want.name}: no run in the ledger")
            continue
        if len(runs) > 1:
            verdict.note("duplicated", f"{want.name}: {len(runs)} runs")
        run = runs[0]
        _check_run(verdict, want, run, seen, alerts)
        if want.kind == "zip" and run.state == want.state:
            _check_children(verdict, want, children.get(run.key, []), seen, alerts)
    return verdict


def _check_run(
    verdict: Verdict, want: Expected, run: RunSeen, seen: Observed, alerts: Counter[str]
) -> None:
    if run.state not in TERMINAL:
        verdict.note("lost", f"{want.name}: still {run.state}")
        return
    if run.state != want.state:
        verdict.note("wrong", f"{want.name}: {run.state}, expected {want.state}")
        return
    if want.kind == "fanout":
        _check_fanout_tasks(verdict, want, run, seen)
    elif want.kind != "none":
        mine = [
            t
            for t, n in seen.tasks.items()
            if (named := task_attempt(t)) is not None and named[0] == run.key[:32]
            for _ in range(n)
        ]
        if len(mine) > max(run.attempt, 1):
            verdict.note("duplicated", f"{want.name}: {len(mine)} tasks for {run.attempt} attempts")
    _check_alerts(verdict, want.name, want.incident, run.key, alerts)
    if run.state != "succeeded":
        return
    _check_summary(verdict, want, run)
    if want.kind == "csv":
        _check_records(verdict, want.name, run.key, want.rows, seen)


def _check_fanout_tasks(verdict: Verdict, want: Expected, run: RunSeen, seen: Observed) -> None:
    """A fan-out file's job holds one plan task per attempt, one task per member (a retry
    reactivates it) and at most one merge."""
    ids = seen.fanout_jobs.get(run.key[:FANOUT_KEY_CHARS], [])
    members = [t for t in ids if t.isdigit()]
    plans = [t for t in ids if t == "plan" or t.startswith("plan-a")]
    extra: list[str] = []
    if len(members) > want.parts or any(int(t) >= want.parts for t in members):
        extra.append(f"{len(members)} member tasks for {want.parts} members")
    if len(plans) > max(run.attempt, 1):
        extra.append(f"{len(plans)} plan tasks for {run.attempt} attempts")
    if ids.count("merge") > 1:
        extra.append(f"{ids.count('merge')} merge tasks")
    if set(ids) - set(members) - set(plans) - {"merge"}:
        extra.append(f"tasks {sorted(set(ids) - set(members) - set(plans) - {'merge'})}")
    if extra:
        verdict.note("duplicated", f"{want.name}: {'; '.join(extra)}")


def _check_children(
    verdict: Verdict, want: Expected, kids: list[RunSeen], seen: Observed, alerts: Counter[str]
) -> None:
    if len(kids) < want.parts:
        verdict.note("lost", f"{want.name}: {len(kids)} of {want.parts} entries have a run")
    if len(kids) > want.parts:
        verdict.note("duplicated", f"{want.name}: {len(kids)} runs for {want.parts} entries")
    for kid in kids:
        entry = Expected(kid.name, b"", "succeeded", "csv", rows=want.rows)
        _check_run(verdict, entry, kid, seen, alerts)


def _check_alerts(
    verdict: Verdict, name: str, incident: bool, key: str, alerts: Counter[str]
) -> None:
    raised = alerts.get(key, 0)
    if incident and raised == 0:
        verdict.note("wrong", f"{name}: no alert for an incident")
    elif raised > 1:
        verdict.note("duplicated", f"{name}: {raised} alerts")
    elif not incident and raised:
        verdict.note("wrong", f"{name}: an alert for a file that recovered")


def _check_summary(verdict: Verdict, want: Expected, run: RunSeen) -> None:
    s = run.summary
    wrong: list[str] = []
    if want.kind == "csv" and (s.get("rows") != want.rows or s.get("documents") != want.rows):
        wrong.append(f"rows {s.get('rows')}, documents {s.get('documents')}, want {want.rows}")
    if want.kind == "zip" and s.get("children") not in (want.parts, None):
        wrong.append(f"children {s.get('children')}, want {want.parts}")
    if want.kind == "command" and (s.get("exit_code") != 0 or s.get("output_count") != 1):
        wrong.append(f"exit {s.get('exit_code')}, outputs {s.get('output_count')}, want 0 and 1")
    if want.kind == "fanout":
        members = s.get("members") or {}
        if members.get("succeeded") != want.parts or members.get("planned") != want.parts:
            wrong.append(f"members {dict(members)}, want {want.parts} planned and succeeded")
    if wrong:
        verdict.note("wrong", f"{want.name}: summary {'; '.join(wrong)}")


def _check_records(verdict: Verdict, name: str, key: str, rows: int, seen: Observed) -> None:
    wanted = {document_id(key, f"row:{r}") for r in range(1, rows + 1)}
    held = seen.records.get(key, set())
    if wanted - held:
        verdict.note("lost", f"{name}: {len(wanted - held)} of {rows} records missing")
    if held - wanted:
        verdict.note("wrong", f"{name}: {len(held - wanted)} records no row made")

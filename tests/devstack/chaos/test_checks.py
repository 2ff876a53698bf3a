"""The fault matrix's checks see what a fault did: a lost record, an extra task, a second
run, a missing or extra alert, a wrong summary, a file still running. Each broken outcome is
handed to `check` as plain data, next to the clean one it was made from."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from batch_core.keys import task_id
from devstack.chaos.checks import Observed, RunSeen, check
from devstack.chaos.workload import ROWS, Expected, mix
from devstack.verdict import Verdict
from worker.document import document_id

PREFIX = "chaos-test/cell/"


def clean() -> tuple[list[Expected], Observed]:
    """The files of a cell and an outcome in which every one ended as it should."""
    files = mix(PREFIX, 2)
    runs: list[RunSeen] = []
    tasks: Counter[str] = Counter()
    records: dict[str, set[str]] = {}
    alerts: list[tuple[str, str]] = []
    fanout_jobs: dict[str, list[str]] = {}
    for i, f in enumerate(files):
        key = f"{i:02d}" * 16
        summaries: dict[str, dict[str, Any]] = {
            "csv": {"rows": ROWS, "documents": ROWS},
            "zip": {"children": f.parts},
            "command": {"exit_code": 0, "output_count": 1},
            "fanout": {"members": {"planned": f.parts, "succeeded": f.parts}},
            "none": {},
        }
        runs.append(RunSeen(key, f.name, f.state, 1, None, summaries[f.kind]))
        if f.kind == "fanout":
            fanout_jobs[key[:16]] = ["plan", *(str(m) for m in range(f.parts)), "merge"]
        else:
            tasks[task_id(f.name, key)] += 1
        if f.kind == "csv":
            records[key] = {document_id(key, f"row:{r}") for r in range(1, ROWS + 1)}
        if f.incident:
            alerts.append((key, f.state))
        for e in range(f.parts if f.kind == "zip" else 0):
            child = f"{e}c" * 16
            runs.append(RunSeen(child, f"{f.name}/part{e}.csv", "succeeded", 1, key,
                                {"rows": ROWS, "documents": ROWS}))  # fmt: skip
            tasks[task_id(f"part{e}.csv", child)] += 1
            records[child] = {document_id(child, f"row:{r}") for r in range(1, ROWS + 1)}
    return files, Observed(runs, tasks, records, alerts, fanout_jobs)


def first(seen: Observed, kind: str, files: list[Expected]) -> RunSeen:
    name = next(f.name for f in files if f.kind == kind)
    return next(r for r in seen.runs if r.name == name)


def counts(v: Verdict) -> tuple[int, int, int]:
    return len(v.lost), len(v.duplicated), len(v.wrong)


def test_the_clean_outcome_passes() -> None:
    files, seen = clean()
    verdict = check(files, seen)
    assert verdict.ok, verdict.details


def test_a_deleted_cosmos_record_is_lost() -> None:
    files, seen = clean()
    run = first(seen, "csv", files)
    seen.records[run.key].pop()
    verdict = check(files, seen)
    assert counts(verdict) == (1, 0, 0), verdict.details
    assert "records missing" in verdict.details[0]


def test_a_record_no_row_made_is_wrong() -> None:
    files, seen = clean()
    seen.records[first(seen, "csv", files).key].add("stray")
    assert counts(check(files, seen)) == (0, 0, 1)


def test_an_extra_task_for_one_attempt_is_a_duplicate() -> None:
    files, seen = clean()
    run = first(seen, "command", files)
    seen.tasks[task_id(run.name, run.key, 2)] += 1  # a second task, though one attempt ran
    verdict = check(files, seen)
    assert counts(verdict) == (0, 1, 0), verdict.details


def test_a_second_run_of_one_file_is_a_duplicate() -> None:
    files, seen = clean()
    run = first(seen, "csv", files)
    seen.runs.append(dataclasses.replace(run, key="ff" * 16))
    seen.records["ff" * 16] = set()
    assert len(check(files, seen).duplicated) >= 1


def test_a_file_without_a_run_or_still_running_is_lost() -> None:
    files, seen = clean()
    gone = first(seen, "fanout", files)
    seen.runs.remove(gone)
    running = first(seen, "csv", files)
    seen.runs[seen.runs.index(running)] = dataclasses.replace(running, state="running")
    verdict = check(files, seen)
    assert len(verdict.lost) == 2, verdict.details


def test_a_missing_zip_entry_is_lost() -> None:
    files, seen = clean()
    zip_run = first(seen, "zip", files)
    seen.runs.remove(next(r for r in seen.runs if r.parent == zip_run.key))
    assert counts(check(files, seen)) == (1, 0, 0)


def test_alerts_one_per_incident_none_for_a_recovered_file() -> None:
    files, seen = clean()
    rejected = first(seen, "none", files)
    recovered = first(seen, "csv", files)
    seen.alerts.append((rejected.key, "rejected"))  # twice
    seen.alerts.append((recovered.key, "failed"))  # for a file that ended succeeded
    verdict = check(files, seen)
    assert counts(verdict)[1:] == (1, 1), verdict.details
    seen.alerts[:] = [a for a in seen.alerts if a[0] != rejected.key]  # and none at all
    assert len(check(files, seen).wrong) == 2


def test_a_wrong_end_state_or_summary_is_wrong() -> None:
    files, seen = clean()
    fan = first(seen, "fanout", files)
    seen.runs[seen.runs.index(fan)] = dataclasses.replace(
        fan, summary={"members": {"planned": 3, "succeeded": 2}}
    )
    csv = first(seen, "csv", files)
    seen.runs[seen.runs.index(csv)] = dataclasses.replace(csv, state="failed")
    seen.alerts.append((csv.key, "failed"))
    verdict = check(files, seen)
    assert len(verdict.wrong) == 2, verdict.details


def test_a_fan_out_member_or_plan_made_twice_is_duplicated() -> None:
    files, seen = clean()
    fan = first(seen, "fanout", files)
    members = next(f.parts for f in files if f.kind == "fanout")
    seen.fanout_jobs[fan.key[:16]] += [str(members), "plan-a2"]

    verdict = check(files, seen)

    assert counts(verdict) == (0, 1, 0), verdict.details
    assert f"{members + 1} member tasks for {members} members" in verdict.details[0]
    assert "2 plan tasks for 1 attempts" in verdict.details[0]

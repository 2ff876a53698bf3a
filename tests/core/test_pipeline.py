"""batch_core against the real local stack: intake, reconcile, retries, quarantine, alerts.

Worker behaviour is chosen through the DROPBATCH_WORKER_COMMAND setting (a command that
exits with a given code), never by patching our code.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
import uuid

import pytest

from batch_core import intake, reconcile
from batch_core.clock import utcnow
from batch_core.states import RunState
from devstack.stack import Stack
from tests.core.pipeline_helpers import (
    CSV_HEADER,
    batch_of,
    drain,
    drop,
    pipeline_with,
    service_of,
    unique,
)
from worker.contract import STDERR_FILE, attempt_log_prefix, output_prefix

pytestmark = pytest.mark.stack

ROW = b"1,06001,US,Avon,CT,41.79,-72.86\n"


def exits_with(code: int) -> str:
    return f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit({code})'"


def test_a_dropped_csv_becomes_one_task_on_the_job_of_the_day(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    blob = drop(p, unique("a.csv"), CSV_HEADER + ROW)

    run = intake.receive(p, blob, utcnow())

    assert run is not None and run.state is RunState.SUBMITTED
    assert run.job_id == f"dropbatch-{utcnow():%Y%m%d}" and run.task_id is not None
    task = batch_of(p).get_task(run.job_id, run.task_id)
    assert task.id == run.task_id
    env = {e.name: e.value for e in task.environment_settings or []}
    assert env["DROPBATCH_INPUT_BLOB"] == blob.name
    assert env["DROPBATCH_FILE_KEY"] == run.key
    drain(p, run.key)


def test_no_secret_is_in_the_task_command_line_or_environment(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    run = intake.receive(p, drop(p, unique("s.csv"), CSV_HEADER + ROW), utcnow())
    assert run is not None and run.job_id and run.task_id
    task = batch_of(p).get_task(run.job_id, run.task_id)
    metadata = task.command_line + " ".join(
        f"{e.name}={e.value}" for e in task.environment_settings or []
    )
    secrets = [stack.values["DROPBATCH_COSMOS_KEY"], stack.values["DROPBATCH_BATCH_KEY"]]
    secrets.append(stack.values["AzureWebJobsStorage"].split("AccountKey=")[1].split(";")[0])
    for secret in secrets:
        assert secret not in metadata
    drain(p, run.key)


def test_a_duplicate_event_changes_nothing(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    blob = drop(p, unique("dup.csv"), CSV_HEADER + ROW)
    first = intake.receive(p, blob, utcnow())
    assert first is not None

    again = intake.receive(p, blob, utcnow())

    assert again is not None and again.to_doc() == first.to_doc()
    assert first.job_id is not None
    tasks = [t.id for t in batch_of(p).list_tasks(first.job_id) if first.key[:32] in t.id]
    assert tasks == [first.task_id]
    done = drain(p, first.key)
    assert intake.receive(p, blob, utcnow()) == done  # even after the run has ended


def test_a_reuploaded_file_is_a_new_run(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    name = unique("again.csv")
    one = intake.receive(p, drop(p, name, CSV_HEADER + ROW), utcnow())
    two = intake.receive(p, drop(p, name, CSV_HEADER + ROW + ROW), utcnow())
    assert one is not None and two is not None
    assert one.key != two.key and one.task_id != two.task_id
    drain(p, one.key)
    drain(p, two.key)


def test_a_file_without_a_route_is_rejected_with_the_reason(stack: Stack) -> None:
    p = pipeline_with(stack)
    blob = drop(p, unique("notes.txt"), b"hello")
    run = intake.receive(p, blob, utcnow())
    assert run is not None
    assert run.state is RunState.REJECTED
    assert blob.name in run.reason and "no route" in run.reason


def test_a_rejecting_worker_ends_the_run_rejected_without_retry(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(3))
    run = intake.receive(p, drop(p, unique("bad.csv"), b"garbage"), utcnow())
    assert run is not None
    done = drain(p, run.key)
    assert done.state is RunState.REJECTED
    assert done.attempt == 1


def test_a_crashing_worker_is_retried_then_failed_quarantined_and_alerted_once(
    stack: Stack,
) -> None:
    # Given a worker that always fails transiently and two attempts allowed
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(75), DROPBATCH_MAX_ATTEMPTS="2")
    blob = drop(p, unique("flaky.csv"), CSV_HEADER + ROW)
    run = intake.receive(p, blob, utcnow())
    assert run is not None

    # When the reconciler runs until the run ends
    done = drain(p, run.key)

    # Then it failed after both attempts, with the file quarantined and one alert
    assert done.state is RunState.FAILED
    assert done.attempt == 2
    assert "after 2 attempts" in done.reason and "quarantined" in done.reason
    prefix = output_prefix(blob.name, run.key)
    quarantined = [b.name for b in p.blobs.list(p.settings.container_failed, prefix)]
    assert quarantined == [f"{prefix}/flaky.csv"]
    alerts = [a for a in p.alerts.recent(500) if a["run_key"] == run.key]
    assert [a["kind"] for a in alerts] == ["failed"]
    reconcile.tick(p, utcnow())
    assert len([a for a in p.alerts.recent(500) if a["run_key"] == run.key]) == 1
    kept = sorted(b.name for b in p.blobs.list(p.settings.container_logs, prefix))
    for attempt in (1, 2):
        assert f"{attempt_log_prefix(blob.name, run.key, attempt)}/{STDERR_FILE}" in kept


def test_a_file_deleted_before_its_task_is_created_ends_vanished(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    blob = drop(p, unique("gone.csv"), CSV_HEADER + ROW)
    # Given a run whose task was planned but not created (its trigger died in between)
    run = intake.receive(p, drop(p, unique("other.csv"), CSV_HEADER), utcnow())
    assert run is not None
    from batch_core.keys import file_key
    from batch_core.run import Run

    fresh = Run(
        key=file_key(p.blobs.account, blob.container, blob.name, blob.etag),
        container=blob.container, name=blob.name, etag=blob.etag, size=blob.size, route="csv",
        state=RunState.RECEIVED, reason="received", created_at=utcnow(), updated_at=utcnow(),
    )  # fmt: skip
    created, _ = p.ledger.create(fresh)
    intake.plan(p, created, 1, utcnow())
    # When the file is deleted before the reconciler gets to it
    assert p.blobs.delete(blob.container, blob.name, blob.etag)
    done = drain(p, created.key)
    # Then the run ends vanished and no task was created
    assert done.state is RunState.VANISHED
    assert "deleted" in done.reason
    drain(p, run.key)


def test_the_sweep_submits_a_file_that_no_trigger_recorded(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    blob = drop(p, unique("missed.csv"), CSV_HEADER + ROW)
    later = utcnow() + dt.timedelta(minutes=2)  # past the grace given to the trigger

    report = reconcile.tick(p, later)

    assert report.swept >= 1
    from batch_core.keys import file_key

    key = file_key(p.blobs.account, blob.container, blob.name, blob.etag)
    run = p.ledger.get(key)
    assert run is not None and run.state is RunState.SUBMITTED
    assert drain(p, key).state is RunState.SUCCEEDED


def test_a_failure_whose_alert_was_lost_is_alerted_on_the_next_tick(stack: Stack) -> None:
    # Given a run stored as failed by a reconciler that died before alerting
    from batch_core.run import Run

    p = pipeline_with(stack)
    now = utcnow()
    lost = Run(
        key=f"lost{uuid.uuid4().hex}"[:40], container="incoming", name=unique("lost.csv"),
        etag="0x1", size=1, route="csv", state=RunState.FAILED,
        reason="worker crashed (exit 1) after 2 attempts", created_at=now, updated_at=now,
    )  # fmt: skip
    p.ledger.create(lost)

    # When the reconciler ticks, twice
    reconcile.tick(p, now)
    reconcile.tick(p, now)

    # Then exactly one alert names it and the run is marked alerted
    alerts = [a for a in p.alerts.recent(500) if a["run_key"] == lost.key]
    assert [a["kind"] for a in alerts] == ["failed"]
    stored = p.ledger.get(lost.key)
    assert stored is not None and stored.alerted


def test_with_a_gate_the_sweep_lists_incoming_at_most_once_per_interval(stack: Stack) -> None:
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    gate = reconcile.SweepGate(every=dt.timedelta(seconds=120))
    later = utcnow() + dt.timedelta(minutes=2)
    first = drop(p, unique("gate1.csv"), CSV_HEADER + ROW)
    assert reconcile.tick(p, later, gate).swept >= 1

    second = drop(p, unique("gate2.csv"), CSV_HEADER + ROW)
    assert reconcile.tick(p, later + dt.timedelta(seconds=60), gate).swept == 0
    assert reconcile.tick(p, later + dt.timedelta(seconds=121), gate).swept >= 1

    from batch_core.keys import file_key

    for blob in (first, second):
        key = file_key(p.blobs.account, blob.container, blob.name, blob.etag)
        assert drain(p, key, now=later).state is RunState.SUCCEEDED


def batch_stats(stack: Stack, reset: bool = False) -> dict[str, int]:
    import urllib.request

    url = f"{stack.values['DROPBATCH_BATCH_URL']}/_devstack/stats"
    if reset:
        urllib.request.urlopen(urllib.request.Request(f"{url}/reset", method="POST")).read()
    with urllib.request.urlopen(url) as response:
        return dict(json.loads(response.read())["operations"])


def test_a_tick_over_many_runs_of_one_job_lists_changed_tasks_instead_of_reading_each(
    stack: Stack,
) -> None:
    # Given many files submitted to today's job
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    runs = [intake.receive(p, drop(p, unique(f"many{i}.csv"), CSV_HEADER + ROW), utcnow())
            for i in range(15)]  # fmt: skip
    keys = [r.key for r in runs if r is not None]

    # When the reconciler ticks once
    batch_stats(stack, reset=True)
    reconcile.tick(p, utcnow())
    ops = batch_stats(stack)

    # Then it listed the job's changed tasks instead of getting each task
    assert ops.get("Tasks_ListTasks", 0) >= 1
    assert ops.get("Tasks_GetTask", 0) < len(keys)
    for key in keys:
        assert drain(p, key).state is RunState.SUCCEEDED


def test_a_task_planned_on_an_ended_job_of_an_earlier_day_runs_on_todays_job(
    stack: Stack,
) -> None:
    # Given a run planned yesterday whose task was never created, on a job since ended
    from batch_core.keys import file_key
    from batch_core.run import Run
    from batch_core.submission import job_id_for

    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(0))
    blob = drop(p, unique("yesterday.csv"), CSV_HEADER + ROW)
    yesterday = utcnow() - dt.timedelta(days=1)
    fresh = Run(
        key=file_key(p.blobs.account, blob.container, blob.name, blob.etag),
        container=blob.container, name=blob.name, etag=blob.etag, size=blob.size, route="csv",
        state=RunState.RECEIVED, reason="received", created_at=yesterday, updated_at=yesterday,
    )  # fmt: skip
    created, _ = p.ledger.create(fresh)
    planned = intake.plan(p, created, 1, yesterday)
    old_job = job_id_for(p.settings, yesterday.date())
    assert planned.job_id == old_job
    service_of(p).ensure_job(old_job)
    p.batch.terminate_job(old_job)

    # When the reconciler finds the task missing, the run is processed on today's job
    done = drain(p, created.key)
    assert done.state is RunState.SUCCEEDED
    assert done.job_id == job_id_for(p.settings, utcnow().date())


def test_a_failed_run_leaves_no_partly_written_documents(stack: Stack) -> None:
    # Given a worker that writes some documents, then fails transiently every time
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=exits_with(75), DROPBATCH_MAX_ATTEMPTS="1")
    run = intake.receive(p, drop(p, unique("partial.csv"), CSV_HEADER + ROW), utcnow())
    assert run is not None
    from batch_core.cosmosdb import RECORDS, cosmos_client

    records = (
        cosmos_client(p.settings)
        .get_database_client(p.settings.cosmos_database)
        .get_container_client(RECORDS)
    )
    for row in range(3):  # what an attempt that died half-way would have left
        records.upsert_item({"id": f"{run.key}-{row}", "pk": run.key, "file_key": run.key})

    # When the run ends failed
    done = drain(p, run.key)

    # Then its documents are gone, and the reason says so
    assert done.state is RunState.FAILED
    assert "3 partly written documents removed" in done.reason
    left = records.query_items(
        "SELECT VALUE c.id FROM c WHERE c.file_key = @k",
        parameters=[{"name": "@k", "value": run.key}],
        enable_cross_partition_query=True,
    )
    assert list(left) == []


def test_a_failed_run_says_what_the_worker_said_last(stack: Stack) -> None:
    command = (
        f"{shlex.quote(sys.executable)} -c "
        '\'import sys; print("DROPBATCH_COSMOS_ENDPOINT: not reachable", file=sys.stderr); '
        "sys.exit(2)'"
    )
    p = pipeline_with(stack, DROPBATCH_WORKER_COMMAND=command)
    run = intake.receive(p, drop(p, unique("said.csv"), CSV_HEADER + ROW), utcnow())
    assert run is not None
    done = drain(p, run.key)
    assert done.state is RunState.FAILED
    assert "exit 2" in done.reason
    assert "DROPBATCH_COSMOS_ENDPOINT: not reachable" in done.reason

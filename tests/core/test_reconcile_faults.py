"""Reconcile when things go wrong: tasks that never ran, runs the reconciler cannot move,
files whose trigger died half-way. Faults come from settings and real service answers."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest

from batch_core import intake, reconcile
from batch_core.clock import utcnow
from batch_core.errors import PermanentError
from batch_core.finish import MAX_GROUPS, highlights
from batch_core.keys import file_key
from batch_core.run import Run
from batch_core.states import RunState
from devstack.stack import Stack
from tests.core.pipeline_helpers import CSV_HEADER, batch_of, drain, drop, pipeline_with, unique

pytestmark = pytest.mark.stack


def test_a_task_ended_before_it_ever_ran_ends_the_run_failed_and_alerted(stack: Stack) -> None:
    # Given a pool with no nodes, so the task waits, and one attempt allowed
    pool = f"empty-{uuid.uuid4().hex[:6]}"
    p = pipeline_with(
        stack,
        DROPBATCH_BATCH_POOL_ID=pool,
        DROPBATCH_BATCH_JOB_PREFIX=pool,
        DROPBATCH_BATCH_AUTOSCALE="false",
        DROPBATCH_BATCH_MAX_NODES="0",
        DROPBATCH_MAX_ATTEMPTS="1",
    )
    run = intake.receive(p, drop(p, unique("never.csv"), CSV_HEADER), utcnow())
    assert run is not None and run.job_id and run.task_id

    # When an operator ends the waiting task
    batch_of(p).terminate_task(run.job_id, run.task_id)

    # Then the run fails (its task has no output to keep), with one alert
    done = drain(p, run.key)
    assert done.state is RunState.FAILED
    assert [a["kind"] for a in p.alerts.recent(500) if a["run_key"] == run.key] == ["failed"]


@pytest.mark.timeout(120)  # drains a task that sleeps 30 s after its key is refused
def test_a_run_the_reconciler_cannot_move_raises_a_stuck_alert_naming_the_cause(
    stack: Stack,
) -> None:
    # Given a file submitted, then a Batch key that the service refuses
    good = pipeline_with(stack, DROPBATCH_WORKER_COMMAND="sleep 30")
    run = intake.receive(good, drop(good, unique("refused.csv"), CSV_HEADER), utcnow())
    assert run is not None
    wrong_key = base64.b64encode(b"not the key").decode()
    bad = pipeline_with(stack, DROPBATCH_BATCH_KEY=wrong_key, DROPBATCH_STUCK_AFTER_SECONDS="1")

    # When the reconciler keeps failing on it past the stuck limit
    later = utcnow() + dt.timedelta(seconds=30)
    report = reconcile.tick(bad, later)

    # Then an operator is told, with the setting to check
    assert any("refused.csv" in e for e in report.errors)
    alerts = [a for a in bad.alerts.recent(500) if a["run_key"] == run.key]
    assert [a["kind"] for a in alerts] == ["stuck"]
    assert "DROPBATCH_BATCH_KEY" in alerts[0]["message"]
    batch_of(good).terminate_task(run.job_id or "", run.task_id or "")
    drain(good, run.key)


def test_a_bad_batch_key_is_named_when_submitting(stack: Stack) -> None:
    wrong_key = base64.b64encode(b"not the key").decode()
    p = pipeline_with(stack, DROPBATCH_BATCH_KEY=wrong_key)
    with pytest.raises(PermanentError, match="DROPBATCH_BATCH_KEY"):
        intake.receive(p, drop(p, unique("key.csv"), CSV_HEADER), utcnow())


def test_a_file_without_a_route_left_received_by_a_dead_trigger_ends_rejected(
    stack: Stack,
) -> None:
    p = pipeline_with(stack)
    blob = drop(p, unique("notes.txt"), b"hello")
    then = utcnow() - dt.timedelta(minutes=5)
    left = Run(
        key=file_key(p.blobs.account, blob.container, blob.name, blob.etag),
        container=blob.container, name=blob.name, etag=blob.etag, size=blob.size,
        route="none", state=RunState.RECEIVED, reason="received", created_at=then,
        updated_at=then,
    )  # fmt: skip
    p.ledger.create(left)
    reconcile.tick(p, utcnow())
    stored = p.ledger.get(left.key)
    assert stored is not None and stored.state is RunState.REJECTED
    assert "no route" in stored.reason


def test_a_run_document_keeps_few_groups_and_counts_many() -> None:
    few = {"rows": 3, "groups": {"CT": {"count": 3}}}
    many = {"rows": 99, "groups": {str(i): {"count": 1} for i in range(MAX_GROUPS + 1)}}
    assert highlights(few) == few
    kept = highlights(many)
    assert kept["groups"] is None and kept["group_count"] == MAX_GROUPS + 1
    assert kept["rows"] == 99

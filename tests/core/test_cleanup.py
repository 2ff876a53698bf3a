"""Cleanup of past days' jobs against the local Batch service."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from batch_core import cleanup
from batch_core.batchclient import enum_text
from batch_core.clock import utcnow
from batch_core.pipeline import Pipeline
from batch_core.submission import job_id_for
from devstack.stack import Stack
from tests.core.pipeline_helpers import batch_of, pipeline_with, service_of
from worker.contract import child_blob_name

pytestmark = pytest.mark.stack


def job_state(p: Pipeline, job_id: str) -> str | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return enum_text(batch_of(p).get_job(job_id).state, "?")
    except ResourceNotFoundError:
        return None


def wait_for(p: Pipeline, job_id: str, states: set[str | None]) -> str | None:
    deadline = time.monotonic() + 30
    while (state := job_state(p, job_id)) not in states and time.monotonic() < deadline:
        time.sleep(0.2)
    return state


def test_a_drained_job_of_a_past_day_is_terminated_then_deleted(stack: Stack) -> None:
    # Given an empty job of an earlier day and no retention
    p = pipeline_with(stack, DROPBATCH_JOB_RETENTION_DAYS="0", DROPBATCH_BATCH_JOB_PREFIX="clean")
    old = job_id_for(p.settings, dt.date(2020, 1, 1))
    service_of(p).ensure_pool()
    service_of(p).ensure_job(old)
    today = job_id_for(p.settings, utcnow().date())
    service_of(p).ensure_job(today)

    # When cleanup runs, the past job is terminated, and on a later run deleted
    assert cleanup.sweep(p, utcnow())["terminated"] == 1
    assert wait_for(p, old, {"completed"}) == "completed"
    assert cleanup.sweep(p, utcnow() + dt.timedelta(seconds=1))["deleted"] == 1
    assert wait_for(p, old, {None}) is None

    # Today's job is left alone
    assert job_state(p, today) == "active"


def test_extracted_files_expire_only_after_they_and_their_zip_have_ended(stack: Stack) -> None:
    import dataclasses

    from batch_core.run import Run
    from batch_core.states import RunState
    from tests.core.pipeline_helpers import drop, unique

    # Given ended files kept in incoming, a zip run still active and one of its extracted
    # files whose run has ended
    p = pipeline_with(
        stack, DROPBATCH_PARTS_RETENTION_HOURS="0", DROPBATCH_TERMINAL_ORIGINALS="keep"
    )
    now = utcnow()
    zip_run = Run(
        key=f"zip{uuid.uuid4().hex}"[:40], container="incoming", name=unique("a.zip"),
        etag="0x1", size=1, route="zip", state=RunState.RUNNING, reason="running",
        created_at=now, updated_at=now,
    )  # fmt: skip
    p.ledger.create(zip_run)
    part = drop(p, child_blob_name(zip_run.name, zip_run.key, "split1.csv"), b"id\n1\n")
    part_run = Run(
        key=f"part{uuid.uuid4().hex}"[:40], container="incoming", name=part.name,
        etag=part.etag, size=part.size, route="csv", state=RunState.SUCCEEDED,
        reason="processed", created_at=now, updated_at=now, parent=zip_run.key,
    )  # fmt: skip
    p.ledger.create(part_run)
    later = now + dt.timedelta(seconds=5)

    # When cleanup runs while the zip is active, the file stays
    cleanup.expire_parts(p, later)
    assert p.blobs.current_etag("incoming", part.name) == part.etag

    # And once the zip has ended, the file is deleted and the run says so
    stored = p.ledger.get(zip_run.key)
    assert stored is not None
    p.ledger.save(dataclasses.replace(stored, state=RunState.SUCCEEDED))
    assert cleanup.expire_parts(p, later) >= 1
    assert p.blobs.current_etag("incoming", part.name) is None
    after = p.ledger.get(part_run.key)
    assert after is not None and after.input_removed

"""A file that goes away before its task exists: the run ends vanished, never processed."""

from __future__ import annotations

import pytest

from batch_core import intake
from batch_core.errors import TransientError
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import CSV, stored, tick


def planned_but_not_created(p: MemoryPipeline, name: str = "a.csv") -> tuple[str, str]:
    """A file lands; its task is planned in the ledger but Batch is down when it is created.
    Returns the run's key and the blob's etag."""
    blob = p.blobs.upload(p.settings.container_incoming, name, CSV)
    p.batch.fail("CreateTask", TransientError("add task: Batch unreachable (ServiceRequestError)"))
    with pytest.raises(TransientError):
        intake.receive(p, blob, p.clock.now())
    run = p.ledger.recent()[0]
    assert run.state is RunState.SUBMITTED and run.task_id
    return run.key, blob.etag


def test_a_file_deleted_before_its_task_was_created_ends_vanished(p: MemoryPipeline) -> None:
    # Given a planned task that was never created, and a partial write of the file's records
    key, etag = planned_but_not_created(p)
    p.records.add({"id": "r1", "pk": "CT", "file_key": key})

    # When the file is deleted, then the reconciler looks
    assert p.blobs.delete(p.settings.container_incoming, "a.csv", etag)
    report = tick(p, minutes=1)

    # Then the run ends vanished, nothing is created, nothing of it is left
    run = p.ledger.get(key)
    assert run is not None and run.state is RunState.VANISHED
    assert "deleted" in run.reason
    assert report.moved["vanished"] == 1
    assert p.batch.requests["CreateTask"] == 1  # the failed one
    assert p.alerts.kinds() == []


def test_a_file_replaced_before_its_task_was_created_ends_vanished(p: MemoryPipeline) -> None:
    # Given a planned task never created, and the file uploaded again (a new version)
    key, _ = planned_but_not_created(p)
    p.blobs.upload(p.settings.container_incoming, "a.csv", CSV + b"2,06002,US,Bloomfield,CT,,\n")

    # When the reconciler looks
    tick(p, minutes=1)

    # Then the old version's run ends vanished: the new version has a run of its own
    run = p.ledger.get(key)
    assert run is not None and run.state is RunState.VANISHED
    assert "replaced by a newer version" in run.reason


def test_a_planned_task_whose_file_is_still_there_is_created_by_the_reconciler(
    p: MemoryPipeline,
) -> None:
    # Given a planned task never created, its file unchanged
    key, _ = planned_but_not_created(p)

    # When the reconciler looks
    tick(p, minutes=1)

    # Then it creates the task under the planned id
    run = p.ledger.get(key)
    assert run is not None and run.state is RunState.SUBMITTED and run.job_id and run.task_id
    assert p.batch.requests["CreateTask"] == 2
    assert p.batch.task(run.job_id, run.task_id).state == "active"
    assert stored(p, run).attempt == 1

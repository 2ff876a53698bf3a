"""Events come at least once: a second delivery of the same blob changes nothing."""

from __future__ import annotations

from batch_core import intake
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import CSV, pipeline, received, stored, tick


def test_a_second_event_for_the_same_blob_creates_no_second_task(p: MemoryPipeline) -> None:
    # Given a file received once
    blob = p.blobs.upload(p.settings.container_incoming, "a.csv", CSV)
    first = intake.receive(p, blob, p.clock.now())
    assert first is not None and first.job_id and first.task_id

    # When the same event comes again
    again = intake.receive(p, blob, p.clock.advance(seconds=2))

    # Then it is the same run, and Batch still has one task: the second CreateTask (made in
    # case the first delivery died before it) was answered TaskExists
    assert again is not None and again.key == first.key and again.attempt == 1
    assert list(p.batch.jobs_by_id[first.job_id].tasks) == [first.task_id]
    assert p.batch.requests["CreateTask"] == 2
    assert len(p.ledger.docs) == 1


def test_an_event_for_a_blob_whose_task_already_runs_or_ended_asks_batch_nothing(
    p: MemoryPipeline,
) -> None:
    # Given a file whose task is running, then ended
    blob = p.blobs.upload(p.settings.container_incoming, "a.csv", CSV)
    run = intake.receive(p, blob, p.clock.now())
    assert run is not None and run.job_id and run.task_id
    p.batch.start(run.job_id, run.task_id)
    tick(p, seconds=5)
    intake.receive(p, blob, p.clock.now())
    p.batch.complete(run.job_id, run.task_id, exit_code=0)
    tick(p, seconds=5)

    # When the event comes once more
    intake.receive(p, blob, p.clock.advance(seconds=5))

    # Then only the first delivery created a task, and the run's end stands
    assert p.batch.requests["CreateTask"] == 1
    assert stored(p, run).state is RunState.SUCCEEDED


def test_a_file_costs_intake_one_ledger_write_and_one_create_task() -> None:
    # Given a CSV dropped once
    p = pipeline()
    run = received(p)

    # Then its run was written once, already planned, and its task created once
    assert (p.ledger.requests["create"], p.ledger.requests["save"]) == (1, 0)
    assert p.batch.requests["CreateTask"] == 1
    assert run.attempt == 1 and run.job_id and run.task_id
    assert [h["state"] for h in run.history] == ["received", "submitted"]


def test_a_file_no_route_takes_is_written_once_already_rejected() -> None:
    p = pipeline()
    blob = p.blobs.upload(p.settings.container_incoming, "notes.txt", b"x")
    run = intake.receive(p, blob, p.clock.now())
    assert run is not None and run.state is RunState.REJECTED
    assert (p.ledger.requests["create"], p.ledger.requests["save"]) == (1, 0)
    assert p.batch.requests["CreateTask"] == 0

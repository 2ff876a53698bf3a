"""Files that land together are submitted together: the tasks planned within the window go
to Batch in one request per 100, each caller still learns its own task's outcome, and a
request that fails leaves its runs planned for the reconciler — never a task lost."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from batch_core import intake
from batch_core.blobstore import BlobRef
from batch_core.errors import TransientError
from batch_core.run import Run
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import CSV, pipeline, stored, tick


def burst(p: MemoryPipeline, count: int) -> list[Run | None]:
    """`count` files land at once; their triggers run in parallel, as a host runs them."""
    blobs = [p.blobs.upload(p.settings.container_incoming, f"b{i}.csv", CSV) for i in range(count)]
    with ThreadPoolExecutor(max_workers=min(count, 64)) as pool:
        return list(pool.map(lambda b: intake.receive(p, b, p.clock.now()), blobs))


def task_ids(p: MemoryPipeline) -> list[str]:
    return sorted(t for job in p.batch.jobs_by_id.values() for t in job.tasks)


def test_a_burst_is_sent_in_one_request_per_hundred_tasks() -> None:
    p = pipeline(DROPBATCH_SUBMIT_WINDOW_MS="300")

    runs = burst(p, 150)

    assert all(r is not None and r.state is RunState.SUBMITTED for r in runs)
    assert len(task_ids(p)) == 150
    assert p.batch.requests["CreateTask"] == 0
    assert 2 <= p.batch.requests["CreateTaskCollection"] <= 4


def test_a_lone_file_is_sent_alone_after_the_window() -> None:
    p = pipeline(DROPBATCH_SUBMIT_WINDOW_MS="20")
    (run,) = burst(p, 1)
    assert run is not None and task_ids(p) == [run.task_id]
    assert p.batch.requests["CreateTaskCollection"] == 1


def test_a_duplicate_in_a_group_is_a_success_not_an_error() -> None:
    p = pipeline(DROPBATCH_SUBMIT_WINDOW_MS="200")
    blob = p.blobs.upload(p.settings.container_incoming, "same.csv", CSV)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: intake.receive(p, blob, p.clock.now()), range(4)))
    assert {r.key for r in runs if r is not None} == {runs[0].key if runs[0] else ""}
    assert len(task_ids(p)) == 1


def test_a_failed_request_leaves_its_runs_planned_and_the_reconciler_creates_them() -> None:
    # Given a burst whose one request Batch refuses
    p = pipeline(DROPBATCH_SUBMIT_WINDOW_MS="300")
    p.batch.fail("CreateTaskCollection", TransientError("add tasks: Batch answered HTTP 503"))
    blobs = [p.blobs.upload(p.settings.container_incoming, f"f{i}.csv", CSV) for i in range(10)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(lambda b: _receive_or_error(p, b), blobs))

    # Then every trigger heard of it, and every run is planned with its task missing
    assert all(isinstance(o, TransientError) for o in outcomes)
    assert task_ids(p) == []
    assert len(p.ledger.docs) == 10

    # When the reconciler ticks, every planned task is created, once
    tick(p, seconds=5)
    assert len(task_ids(p)) == 10
    runs = [stored(p, r) for r in p.ledger.active()]
    assert all(r.state is RunState.SUBMITTED and r.attempt == 1 for r in runs)


def _receive_or_error(p: MemoryPipeline, blob: BlobRef) -> Run | TransientError | None:
    try:
        return intake.receive(p, blob, p.clock.now())
    except TransientError as e:
        return e


def test_files_handed_over_a_few_at_a_time_in_a_burst_still_share_requests() -> None:
    # Given a host that hands over a burst in waves of 10, each wave further apart than the
    # window: without widening, every wave would be a request of its own
    p = pipeline(DROPBATCH_SUBMIT_WINDOW_MS="50")
    waves = 6
    blobs = [p.blobs.upload(p.settings.container_incoming, f"w{i}.csv", CSV) for i in range(60)]

    def land(i: int) -> Run | None:
        time.sleep(0.08 * (i // 10))
        return intake.receive(p, blobs[i], p.clock.now())

    with ThreadPoolExecutor(max_workers=60) as pool:
        runs = list(pool.map(land, range(60)))

    # Then once the burst is seen, its groups wait longer and fill up
    assert all(r is not None and r.state is RunState.SUBMITTED for r in runs)
    assert len(task_ids(p)) == 60
    assert p.batch.requests["CreateTaskCollection"] < waves

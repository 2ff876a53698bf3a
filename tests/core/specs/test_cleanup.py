"""Cleanup: jobs of past days that drained are terminated, then deleted after the retention;
when ended files stay in incoming, files extracted from zips are removed once they, their zip
and the retention are over."""

from __future__ import annotations

from azure.batch.models import BatchTaskCreateOptions

from batch_core import intake
from batch_core.errors import TransientError
from batch_core.routebook import parse_routes
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline, memory_pipeline
from tests.core.specs.steps import CSV, pipeline, received, stored, task_ends, tick
from worker.contract import PARENT_METADATA


def job_states(p: MemoryPipeline) -> dict[str, str]:
    return {j.id: j.state for j in p.batch.jobs_by_id.values()}


def test_a_drained_job_of_a_past_day_is_terminated_then_deleted_after_the_retention() -> None:
    # Given yesterday's job, whose only task succeeded, and a retention of two days
    p = pipeline(DROPBATCH_JOB_RETENTION_DAYS="2")
    run = received(p)
    task_ends(p, run, exit_code=0)
    tick(p, seconds=5)
    yesterday = run.job_id or ""
    assert job_states(p) == {yesterday: "active"}  # today's job is never touched

    # When a tick runs the next day, the drained job is terminated
    report = tick(p, days=1)
    assert report.cleanup["terminated"] == 1
    assert job_states(p) == {yesterday: "completed"}

    # When the retention has not passed it is kept; once it has, it is deleted
    assert tick(p, hours=12).cleanup["deleted"] == 0
    assert tick(p, hours=13).cleanup["deleted"] == 1
    assert job_states(p) == {}


def test_a_past_days_job_is_kept_while_a_run_points_at_it_or_a_task_is_unfinished(
    p: MemoryPipeline,
) -> None:
    # Given a run whose task ended, but whose end the reconciler cannot read yet
    run = received(p)
    task_ends(p, run, exit_code=0)
    p.batch.fail("GetTask", TransientError("read task: Batch answered HTTP 503"), times=None)
    # ...an earlier job holding a task nobody recorded (an operator's), still waiting
    p.batch.add_task("dropbatch-20240229", BatchTaskCreateOptions(id="op", command_line="true"))
    # ...and an earlier job with nothing left in it
    p.batch.add_job("dropbatch-20240228")

    # When ticks run on the following days
    tick(p, days=1)
    tick(p, days=3)

    # Then only the drained job without runs is terminated (and later deleted)
    assert stored(p, run).state is RunState.SUBMITTED
    assert job_states(p) == {run.job_id: "active", "dropbatch-20240229": "active"}
    assert p.batch.requests["TerminateJob"] == 1

    # When the run can end, its drained job goes on the tick after the one that ends it (a
    # tick counts the runs pointing at a job before it moves them)
    p.batch.heal()
    tick(p, minutes=1)
    assert stored(p, run).state is RunState.SUCCEEDED
    assert job_states(p)[run.job_id or ""] == "active"
    tick(p, minutes=1)
    assert job_states(p)[run.job_id or ""] == "completed"


def test_an_extracted_file_is_removed_only_after_it_its_zip_and_the_retention_are_over() -> None:
    # Given ended files kept in incoming, a zip being processed, and a CSV extracted from it
    # that was processed
    p = pipeline(DROPBATCH_PARTS_RETENTION_HOURS="24", DROPBATCH_TERMINAL_ORIGINALS="keep")
    zipped = received(p, "NC1.zip", b"PK\x05\x06" + b"\0" * 18)
    incoming = p.settings.container_incoming
    part = p.blobs.put(incoming, "NC1/part-1.csv", CSV, {PARENT_METADATA: zipped.key})
    part_run = intake.receive(p, part, p.clock.now())
    assert part_run is not None and part_run.parent == zipped.key
    task_ends(p, part_run, exit_code=0)
    tick(p, seconds=5)

    # When the retention has not passed since the part ended, it stays
    assert tick(p, hours=23).cleanup["parts_expired"] == 0
    # When it has, but its zip is still being processed, it stays (a zip task that runs again
    # would extract it again)
    assert tick(p, hours=2).cleanup["parts_expired"] == 0
    assert p.blobs.data(incoming, part.name) is not None

    # When the zip ends, the part goes in the same tick
    task_ends(p, zipped, exit_code=0)
    assert tick(p, seconds=5).cleanup["parts_expired"] == 1

    # Then the extracted file is gone and its run says so; the zip itself stays
    assert p.blobs.data(incoming, part.name) is None
    assert stored(p, part_run).input_removed
    assert p.blobs.data(incoming, "NC1.zip") is not None
    assert tick(p, hours=1).cleanup["parts_expired"] == 0


IDLE_ROUTES = """
version = 1
[pool.burst]
id = "dropbatch-burst"
delete_when_idle = "2h"
[[route]]
name = "burst"
match = ["burst/*.txt"]
kind = "command"
pool = "burst"
[route.task]
command = "true"
"""


def test_a_pool_that_asks_for_it_is_deleted_once_idle_long_enough_and_made_again() -> None:
    # Given a route on a pool deleted after 2 idle hours, and one file run on it
    p = memory_pipeline(routes=parse_routes(IDLE_ROUTES, "routes.toml"))
    run = received(p, "burst/a.txt", b"x")
    assert "dropbatch-burst" in p.batch.pools
    task_ends(p, run, exit_code=0)

    # When the pool has been idle for one hour, then for more than two
    assert tick(p, hours=1).cleanup["pools_deleted"] == 0
    assert tick(p, hours=1, minutes=5).cleanup["pools_deleted"] == 1

    # Then it is gone, the default pool was never touched, and the next file makes it again
    assert "dropbatch-burst" not in p.batch.pools
    assert p.batch.requests["DeletePool"] == 1
    received(p, "burst/b.txt", b"y")
    assert "dropbatch-burst" in p.batch.pools


def test_a_busy_pool_is_never_deleted() -> None:
    p = memory_pipeline(routes=parse_routes(IDLE_ROUTES, "routes.toml"))
    received(p, "burst/slow.txt", b"x")  # its task never ends
    assert tick(p, hours=5).cleanup["pools_deleted"] == 0
    assert "dropbatch-burst" in p.batch.pools

"""The fan-out calls of the Batch port, kept alike by the adapter (on the local Batch
service) and the twin: a fan-out job, task collections whose repeat is harmless,
reactivation in place, deleting a task, a job that ends with its last task."""

from __future__ import annotations

from tests.contract.conftest import eventually
from tests.contract.test_batch_contract import BatchSide, a_task, batch

__all__ = ["batch"]  # the fixture, shared with the other Batch contract tests


def fan_job(b: BatchSide) -> str:
    """A fan-out job on the side's pool (ensured by its fixture); creating it twice is fine."""
    job = f"{b.prefix}-fan-0123456789abcdef"
    pool = str(getattr(b.port, "_s").batch_pool_id)  # noqa: B009 - both sides keep their settings there
    b.port.create_fanout_job(job, pool, max_parallel=4)
    b.port.create_fanout_job(job, pool, max_parallel=4)
    return job


def test_a_task_collection_is_added_and_adding_it_again_is_harmless(batch: BatchSide) -> None:
    job = fan_job(batch)
    tasks = [a_task(str(i), 0) for i in range(3)]

    assert batch.port.add_tasks(job, tasks) == {"0": True, "1": True, "2": True}
    assert batch.port.add_tasks(job, tasks) == {"0": False, "1": False, "2": False}

    for tid in ("0", "1", "2"):
        assert batch.end(job, tid).exit_code == 0


def test_a_failed_task_is_reactivated_in_place_and_a_succeeded_one_is_not(batch: BatchSide) -> None:
    job = fan_job(batch)
    batch.port.add_tasks(job, [a_task("0", 1), a_task("1", 0)])
    batch.end(job, "0")
    batch.end(job, "1")

    assert batch.port.reactivate_task(job, "0") is True
    assert batch.port.reactivate_task(job, "1") is False
    status = batch.port.task_status(job, "0")
    assert status is not None and status.exit_code in (None, 1)
    assert batch.end(job, "0").exit_code == 1  # it ran again, the same command


def test_a_deleted_task_is_gone_and_deleting_it_again_is_fine(batch: BatchSide) -> None:
    job = fan_job(batch)
    batch.port.add_tasks(job, [a_task("0", 0)])
    batch.end(job, "0")

    batch.port.delete_task(job, "0")
    batch.port.delete_task(job, "0")

    assert eventually(lambda: batch.port.task_status(job, "0"), lambda s: s is None) is None


def test_a_job_told_to_end_when_done_completes_with_its_last_task(batch: BatchSide) -> None:
    job = fan_job(batch)
    batch.port.add_tasks(job, [a_task("0", 0)])
    batch.port.end_job_when_done(job)
    batch.end(job, "0")

    states = eventually(
        lambda: {j.id: j.state for j in batch.port.jobs(f"{batch.prefix}-")},
        lambda found: found.get(job) == "completed",
    )
    assert states[job] == "completed"

"""Azure Batch's promises, kept by the Batch adapter (on the local Batch service, whose
tasks really run) and by the twin (whose tasks a test ends)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from azure.batch import models

from batch_core.batch_service import BatchService, TaskStatus
from batch_core.batchclient import batch_client
from batch_core.clock import utcnow
from batch_core.errors import DropbatchError, NotFoundError, PermanentError
from batch_core.pools import default_plan
from batch_core.ports import BatchPort
from batch_core.settings import Settings
from batch_core.submission import job_id_for
from batch_core.testing import FakeClock, MemoryBatch, memory_settings
from tests.contract.conftest import eventually, fresh_name

SLEEP = "sleep 30"


@dataclass
class BatchSide:
    port: BatchPort
    prefix: str
    now: Callable[[], dt.datetime]
    end: Callable[[str, str], TaskStatus]  # a task with an exit command runs to its end

    @property
    def job(self) -> str:
        return job_id_for_prefix(self.prefix, self.now())


def job_id_for_prefix(prefix: str, now: dt.datetime) -> str:
    return job_id_for(memory_settings({"DROPBATCH_BATCH_JOB_PREFIX": prefix}), now.date())


def a_task(task_id: str, exit_code: int | None = None) -> models.BatchTaskCreateOptions:
    """Prints `out-<id>` and exits with `exit_code`; without one it sleeps."""
    command = SLEEP if exit_code is None else f"/bin/sh -c 'echo out-{task_id}; exit {exit_code}'"
    return models.BatchTaskCreateOptions(id=task_id, command_line=command)


@pytest.fixture
def batch(side: str, request: pytest.FixtureRequest) -> Iterator[BatchSide]:
    prefix = fresh_name("ct")
    overrides = {"DROPBATCH_BATCH_JOB_PREFIX": prefix}
    if side == "memory":
        clock = FakeClock()
        twin_settings = memory_settings(overrides)
        twin = MemoryBatch(twin_settings, clock)

        def end(job: str, task_id: str) -> TaskStatus:
            command = twin.task(job, task_id).spec.command_line or ""
            code = int(command.rsplit("exit ", 1)[1].rstrip("'"))
            twin.complete(job, task_id, exit_code=code, stdout=f"out-{task_id}\n".encode())
            status = twin.task_status(job, task_id)
            assert status is not None
            return status

        twin.ensure_pools([default_plan(twin_settings)])
        yield BatchSide(twin, prefix, clock.now, end)
        return
    stack = request.getfixturevalue("stack")
    settings = Settings.from_env({**stack.values, **overrides})
    real = BatchService(batch_client(settings), settings)
    real.ensure_pools([default_plan(settings)])  # as intake does before a route's first task

    def wait(job: str, task_id: str) -> TaskStatus:
        status = eventually(
            lambda: real.task_status(job, task_id),
            lambda s: s is not None and s.state == "completed",
        )
        assert status is not None
        return status

    yield BatchSide(real, prefix, utcnow, wait)
    for job in real.jobs(prefix):
        with contextlib.suppress(DropbatchError):
            real.terminate_job(job.id)
            real.delete_job(job.id)


def test_a_task_is_created_once_and_a_second_create_says_it_exists(batch: BatchSide) -> None:
    assert batch.port.add_task(batch.job, a_task("t1", 0)) is True
    assert batch.port.add_task(batch.job, a_task("t1", 0)) is False
    status = batch.port.task_status(batch.job, "t1")
    assert status is not None and status.state in ("active", "preparing", "running", "completed")


def test_an_ended_task_has_its_exit_code_and_times(batch: BatchSide) -> None:
    batch.port.add_task(batch.job, a_task("t3", 3))
    status = batch.end(batch.job, "t3")
    assert (status.state, status.exit_code) == ("completed", 3)
    assert status.failure and status.failure.startswith("FailureExitCode:")
    assert status.ended_at is not None


def test_an_unknown_task_or_job_has_no_status(batch: BatchSide) -> None:
    assert batch.port.task_status(batch.job, "nothing") is None
    batch.port.add_task(batch.job, a_task("t0", 0))
    assert batch.port.task_status(batch.job, "nothing") is None


def test_changed_tasks_are_those_whose_state_changed_since_the_moment(batch: BatchSide) -> None:
    batch.port.add_task(batch.job, a_task("t0", 0))
    assert batch.end(batch.job, "t0").failure is None
    recently = batch.now() - dt.timedelta(minutes=1)
    assert set(batch.port.task_statuses(batch.job, recently)) == {"t0"}
    later = batch.now() + dt.timedelta(hours=1)
    assert batch.port.task_statuses(batch.job, later) == {}
    with pytest.raises(NotFoundError):
        batch.port.task_statuses(f"{batch.prefix}-nojob", recently)


def test_a_job_is_listed_counted_terminated_then_deleted(batch: BatchSide) -> None:
    # Given a job with one task that does not end by itself
    batch.port.add_task(batch.job, a_task("long"))
    [job] = batch.port.jobs(f"{batch.prefix}-")
    assert (job.id, job.state) == (batch.job, "active") and job.created_at is not None
    assert batch.port.unfinished_tasks(batch.job) == 1
    # When it is terminated, its task ends too and it takes no more tasks
    batch.port.terminate_job(batch.job)
    eventually(lambda: batch.port.jobs(f"{batch.prefix}-")[0].state, lambda s: s == "completed")
    assert eventually(lambda: batch.port.unfinished_tasks(batch.job), lambda n: n == 0) == 0
    with pytest.raises(PermanentError):
        batch.port.add_task(batch.job, a_task("late", 0))
    batch.port.terminate_job(batch.job)  # again: nothing to do
    # When it is deleted it goes
    batch.port.delete_job(batch.job)
    eventually(
        lambda: [j.state for j in batch.port.jobs(f"{batch.prefix}-")],
        lambda states: states in ([], ["deleting"]),
    )
    batch.port.delete_job(batch.job)  # again: nothing to do


def test_a_missing_job_cannot_be_counted_and_ending_it_is_a_no_op(batch: BatchSide) -> None:
    missing = f"{batch.prefix}-nojob"
    with pytest.raises(NotFoundError):
        batch.port.unfinished_tasks(missing)
    batch.port.terminate_job(missing)
    batch.port.delete_job(missing)
    assert batch.port.jobs(f"{batch.prefix}-") == []


def test_tasks_added_together_report_each_outcome_and_an_existing_one_is_no_error(
    batch: BatchSide,
) -> None:
    assert batch.port.add_task(batch.job, a_task("g0", 0)) is True
    outcomes = batch.port.add_tasks(batch.job, [a_task(f"g{i}", 0) for i in range(4)])
    assert outcomes == {"g0": False, "g1": True, "g2": True, "g3": True}
    for i in range(4):
        assert batch.port.task_status(batch.job, f"g{i}") is not None

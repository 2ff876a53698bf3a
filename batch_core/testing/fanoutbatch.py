"""The twin's fan-out calls (see `batch_core.fanoutbatch`): a fan-out file's own job, task
collections with a result per task, reactivation in place, deleting a task, a job that ends
with its last task; and what a spot eviction does (`preempt`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from batch_core.errors import NotFoundError, PermanentError

if TYPE_CHECKING:
    import datetime as dt

    from batch_core.testing.batch import MemoryJob, MemoryTask
    from batch_core.testing.clock import FakeClock


@dataclass
class FanoutJobOptions:
    """The options a fan-out job was created with, as the twin keeps them."""

    uses_task_dependencies: bool = False
    max_parallel: int | None = None
    end_when_done: bool = False
    deleted_tasks: list[str] = field(default_factory=list)


class MemoryFanoutCalls:
    """Mixed into `MemoryBatch`, whose state and helpers these are."""

    jobs_by_id: dict[str, MemoryJob]
    fanout_options: dict[str, FanoutJobOptions]
    _known_jobs: set[str]
    _clock: FakeClock

    if TYPE_CHECKING:

        def _request(self, operation: str, *args: object) -> None: ...
        def _job(self, job_id: str, doing: str) -> MemoryJob: ...
        def task(self, job_id: str, task_id: str) -> MemoryTask: ...
        def add_job(
            self,
            job_id: str,
            created_at: dt.datetime | None = None,
            state: str = "active",
            pool_id: str | None = None,
        ) -> MemoryJob: ...

    def create_fanout_job(self, job_id: str, pool_id: str, max_parallel: int | None) -> None:
        """As the real adapter: the job with dependencies on, recorded with its options."""
        self._request("CreateJob", job_id)
        if job_id not in self.jobs_by_id:
            self.add_job(job_id, pool_id=pool_id)
            self.fanout_options[job_id] = FanoutJobOptions(True, max_parallel)
        self._known_jobs.add(job_id)

    def reactivate_task(self, job_id: str, task_id: str) -> bool:
        """As the real adapter: a failed task back to active, same id."""
        self._request("ReactivateTask", job_id, task_id)
        job = self._job(job_id, f"reactivate task {task_id}")
        if job.state != "active":
            raise PermanentError(f"reactivate task {task_id} of job {job_id}: JobCompleted")
        task = job.tasks.get(task_id)
        if task is None:
            raise NotFoundError(f"reactivate task {task_id} of job {job_id}: TaskNotFound")
        if task.state != "completed" or (task.exit_code == 0 and not task.failure):
            return False
        task.state, task.exit_code, task.failure = "active", None, None
        task.ended_at, task.changed_at = None, self._clock.now()
        return True

    def delete_task(self, job_id: str, task_id: str) -> None:
        """As the real adapter: the task gone; a missing one is fine."""
        self._request("DeleteTask", job_id, task_id)
        job = self.jobs_by_id.get(job_id)
        if job is not None and job.tasks.pop(task_id, None) is not None:
            self.fanout_options.setdefault(job_id, FanoutJobOptions()).deleted_tasks.append(task_id)

    def end_job_when_done(self, job_id: str) -> None:
        """As the real adapter: the job ends once its last task completes."""
        self._request("UpdateJob", job_id)
        if job_id in self.jobs_by_id:
            self.fanout_options.setdefault(job_id, FanoutJobOptions()).end_when_done = True
            self._end_if_done(job_id)

    # What the service does.

    def preempt(self, job_id: str, task_id: str) -> None:
        """A spot node is taken away under the running task: Batch puts it back in the queue
        (active again, its requeue count up), at no cost to its retries."""
        task = self.task(job_id, task_id)
        task.state, task.started_at, task.changed_at = "active", None, self._clock.now()
        task.requeue_count += 1

    def _end_if_done(self, job_id: str) -> None:
        job = self.jobs_by_id[job_id]
        options = self.fanout_options.get(job_id)
        if options is None or not options.end_when_done or job.state != "active":
            return
        if job.tasks and all(t.state == "completed" for t in job.tasks.values()):
            job.state = "completed"

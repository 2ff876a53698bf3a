"""Azure Batch in memory: jobs and their tasks, which move only when a test moves them
(`start`, `complete`). Requests are counted under the Batch REST operation names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from azure.batch import models

from batch_core.batch_service import JobInfo, TaskStatus
from batch_core.errors import DropbatchError, NotFoundError, PermanentError
from batch_core.settings import Settings
from batch_core.testing.blobs import MemoryBlobs
from batch_core.testing.clock import FakeClock
from batch_core.testing.fanoutbatch import FanoutJobOptions, MemoryFanoutCalls
from batch_core.testing.poolbatch import MemoryPools
from batch_core.testing.twin import Twin

# What Batch records for a task that exited with any code but 0 (its failureInfo).
EXIT_CODE_FAILURE = "FailureExitCode: The task process exited with an unexpected exit code"


@dataclass
class MemoryTask:
    """One task of the in-memory Batch: its spec, state and what it ended with."""

    spec: models.BatchTaskCreateOptions
    changed_at: dt.datetime
    state: str = "active"
    exit_code: int | None = None
    failure: str | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    requeue_count: int = 0

    def status(self) -> TaskStatus:
        """The task's status as the Batch port reports it."""
        return TaskStatus(
            self.state,
            self.exit_code,
            self.failure,
            self.started_at,
            self.ended_at,
            self.requeue_count,
        )


@dataclass
class MemoryJob:
    """One job of the in-memory Batch: its pool, state and tasks."""

    id: str
    pool_id: str
    created_at: dt.datetime
    state: str = "active"
    tasks: dict[str, MemoryTask] = field(default_factory=dict)


class MemoryBatch(MemoryPools, MemoryFanoutCalls, Twin):
    """A `BatchPort`. Like the real adapter it checks the pool and creates the job on the
    first task of each job it has not seen, and refuses tasks on an ended job."""

    def __init__(
        self, settings: Settings, clock: FakeClock, blobs: MemoryBlobs | None = None
    ) -> None:
        super().__init__()
        self._s = settings
        self._clock = clock
        self.blobs = blobs  # where output files go
        self.pools: set[str] = set()
        self.pool_created: dict[str, dt.datetime] = {}
        self.jobs_by_id: dict[str, MemoryJob] = {}
        self._known_jobs: set[str] = set()
        self.fanout_options: dict[str, FanoutJobOptions] = {}

    def add_task(
        self, job_id: str, task: models.BatchTaskCreateOptions, pool_id: str | None = None
    ) -> bool:
        if job_id not in self._known_jobs:  # its pool was ensured by the caller
            self.ensure_job(job_id, pool_id)
        self._request("CreateTask", job_id, task.id)
        job = self.jobs_by_id.get(job_id)
        if job is None or job.state != "active":
            self._known_jobs.discard(job_id)
            code = "JobNotFound" if job is None else "JobCompleted"
            error = NotFoundError if job is None else PermanentError
            raise error(f"add task {task.id} to job {job_id}: {code}")
        if task.id in job.tasks:
            return False
        job.tasks[str(task.id)] = MemoryTask(spec=task, changed_at=self._clock.now())
        return True

    def add_tasks(
        self,
        job_id: str,
        tasks: Sequence[models.BatchTaskCreateOptions],
        pool_id: str | None = None,
    ) -> dict[str, bool | DropbatchError]:
        if len(tasks) > 100:
            raise ValueError("at most 100 tasks per request")
        if job_id not in self._known_jobs:
            self.ensure_job(job_id, pool_id)
        self._request("CreateTaskCollection", job_id, [str(t.id) for t in tasks])
        job = self.jobs_by_id.get(job_id)
        if job is None or job.state != "active":
            self._known_jobs.discard(job_id)
            code = "JobNotFound" if job is None else "JobCompleted"
            error = NotFoundError if job is None else PermanentError
            raise error(f"add {len(tasks)} tasks to job {job_id}: {code}")
        outcomes: dict[str, bool | DropbatchError] = {}
        for task in tasks:
            created = str(task.id) not in job.tasks
            if created:
                job.tasks[str(task.id)] = MemoryTask(spec=task, changed_at=self._clock.now())
            outcomes[str(task.id)] = created
        return outcomes

    def task_status(self, job_id: str, task_id: str) -> TaskStatus | None:
        self._request("GetTask", job_id, task_id)
        job = self.jobs_by_id.get(job_id)
        task = job.tasks.get(task_id) if job else None
        return task.status() if task else None

    def task_statuses(self, job_id: str, since: dt.datetime) -> dict[str, TaskStatus]:
        self._request("ListTasks", job_id)
        moment = since.replace(microsecond=0)  # the filter has whole seconds
        job = self._job(job_id, f"list changed tasks of job {job_id}")
        return {tid: t.status() for tid, t in job.tasks.items() if t.changed_at >= moment}

    def jobs(self, prefix: str) -> list[JobInfo]:
        self._request("ListJobs")
        return [
            JobInfo(j.id, j.state, j.created_at)
            for j in self.jobs_by_id.values()
            if j.id.startswith(prefix)
        ]

    def unfinished_tasks(self, job_id: str) -> int:
        self._request("GetJobTaskCounts", job_id)
        job = self._job(job_id, f"count tasks of job {job_id}")
        return sum(t.state in ("active", "preparing", "running") for t in job.tasks.values())

    def terminate_job(self, job_id: str) -> None:
        self._request("TerminateJob", job_id)
        job = self.jobs_by_id.get(job_id)
        if job is None or job.state == "completed":
            return
        job.state = "completed"
        for tid, task in job.tasks.items():
            if task.state != "completed":  # Batch ends the tasks of a terminated job
                self.complete(job_id, tid, exit_code=None, failure="TaskEnded: job terminated")

    def delete_job(self, job_id: str) -> None:
        self._request("DeleteJob", job_id)
        self._known_jobs.discard(job_id)
        self.jobs_by_id.pop(job_id, None)

    def job_task_counts(self, job_id: str) -> dict[str, int]:
        self._request("GetJobTaskCounts", job_id)
        tasks = self._job(job_id, f"count tasks of job {job_id}").tasks.values()
        done = [t for t in tasks if t.state == "completed"]
        return {
            "active": sum(t.state in ("active", "preparing") for t in tasks),
            "running": sum(t.state == "running" for t in tasks),
            "completed": len(done),
            "succeeded": sum(t.exit_code == 0 and not t.failure for t in done),
            "failed": sum(t.exit_code != 0 or bool(t.failure) for t in done),
        }

    # The real adapter's set-up calls, which add_task makes on a job's first task.

    def ensure_job(self, job_id: str, pool_id: str | None = None) -> None:
        """Create the job (on the default pool unless `pool_id`) unless it exists, as BatchService
        does."""
        self._request("CreateJob", job_id)
        if job_id not in self.jobs_by_id:
            self.add_job(job_id, pool_id=pool_id or self._s.batch_pool_id)
        self._known_jobs.add(job_id)

    # What the service, its nodes or an operator do: the test drives these.

    def add_job(
        self,
        job_id: str,
        created_at: dt.datetime | None = None,
        state: str = "active",
        pool_id: str | None = None,
    ) -> MemoryJob:
        """A job as if made earlier (by a past day's submissions, say)."""
        pool = pool_id or self._s.batch_pool_id
        job = MemoryJob(job_id, pool, created_at or self._clock.now(), state)
        self.jobs_by_id[job_id] = job
        return job

    def task(self, job_id: str, task_id: str) -> MemoryTask:
        """The task as created (its spec: command line, environment) and its state."""
        job = self.jobs_by_id.get(job_id)
        task = job.tasks.get(task_id) if job else None
        if task is None:
            raise KeyError(f"no task {task_id} in job {job_id}")
        return task

    def start(self, job_id: str, task_id: str) -> None:
        """A node picks the task up: it is running."""
        task = self.task(job_id, task_id)
        task.state, task.started_at, task.changed_at = (
            "running",
            self._clock.now(),
            self._clock.now(),
        )

    def complete(
        self,
        job_id: str,
        task_id: str,
        exit_code: int | None = 0,
        failure: str | None = None,
        stdout: bytes | None = None,
        stderr: bytes | None = None,
    ) -> None:
        """The task ends with `exit_code` (None: it never ran) and Batch's `failure` text
        ("code: message"; by default, as Batch says of any exit code but 0, FailureExitCode);
        `stdout` and `stderr` are the files it left on its node. Like Batch, the twin then
        uploads the task's output files for them (`../stdout.txt`, `../stderr.txt`) to the
        blob twin it was given, when their upload condition holds."""
        task = self.task(job_id, task_id)
        now = self._clock.now()
        if failure is None and exit_code not in (None, 0):
            failure = EXIT_CODE_FAILURE
        task.state, task.exit_code, task.failure = "completed", exit_code, failure
        task.ended_at, task.changed_at = now, now
        for name, data in (("stdout.txt", stdout), ("stderr.txt", stderr)):
            if data is not None:
                task.files[name] = data
        if self.blobs is not None:
            self._upload_outputs(task, succeeded=exit_code == 0 and failure is None)
        self._end_if_done(job_id)

    def _upload_outputs(self, task: MemoryTask, succeeded: bool) -> None:
        assert self.blobs is not None
        for spec in task.spec.output_files or []:
            name = spec.file_pattern.removeprefix("../")
            condition = str(spec.upload_options.upload_condition).lower()
            wanted = (
                "completion" in condition
                or ("success" in condition and succeeded)
                or ("failure" in condition and not succeeded)
            )
            container = spec.destination.container
            if name not in task.files or not wanted or container is None:
                continue
            target = container.container_url.rstrip("/").rsplit("/", 1)[-1]
            self.blobs.put(
                target, container.path or name, task.files[name], content_type="text/plain"
            )

    def _job(self, job_id: str, doing: str) -> MemoryJob:
        job = self.jobs_by_id.get(job_id)
        if job is None:
            raise NotFoundError(f"{doing}: JobNotFound")
        return job

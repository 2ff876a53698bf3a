"""Azure Batch as the pipeline uses it: the jobs of the days and one task per file attempt
(singly or a hundred at a time); the pools are `poolservice`'s."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from azure.batch import BatchClient, models

# Not exported by azure.batch.models in 15.x, though begin_terminate_job takes it.
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
)

from batch_core.batchclient import batch_client as batch_client  # its first home was here
from batch_core.batchclient import enum_text, error_code, translate
from batch_core.errors import DropbatchError, PermanentError, TransientError
from batch_core.fanoutbatch import FanoutCalls
from batch_core.pools import autoscale_formula as autoscale_formula  # its first home was here
from batch_core.poolservice import PoolNodeCounts as PoolNodeCounts
from batch_core.poolservice import PoolService, int_fields
from batch_core.settings import Settings

log = logging.getLogger(__name__)
MAX_TASKS_PER_REQUEST = 100  # Batch's limit for one add-task-collection request


@dataclass(frozen=True)
class TaskStatus:
    """What Batch says of one task: its state, exit code, failure and times."""

    state: str
    exit_code: int | None
    failure: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    requeue_count: int = 0  # Batch put it back in the queue (a node was taken away)


def _status(t: models.BatchTask) -> TaskStatus:
    info = t.execution_info
    failure = None
    if info is not None and info.failure_info is not None:
        failure = f"{info.failure_info.code}: {info.failure_info.message}"
    return TaskStatus(
        state=enum_text(t.state, "active"),
        exit_code=info.exit_code if info is not None else None,
        failure=failure,
        started_at=info.start_time if info is not None else None,
        ended_at=info.end_time if info is not None else None,
        requeue_count=int(info.requeue_count or 0) if info is not None else 0,
    )


@dataclass(frozen=True)
class JobInfo:
    """One Batch job: its id, state and creation time."""

    id: str
    state: str
    created_at: dt.datetime | None


class BatchService(FanoutCalls, PoolService):
    """The Batch port over the real SDK client: the pools (`PoolService`), the calls of
    fan-out files (`FanoutCalls`), the jobs of the days, one task per file attempt."""

    def __init__(self, client: BatchClient, settings: Settings) -> None:
        super().__init__(client, settings)
        self._known_jobs: set[str] = set()
        self._jobs_lock = threading.Lock()  # the first tasks of a day create its job once

    def ensure_job(self, job_id: str, pool_id: str | None = None) -> None:
        """Create the job on `pool_id` (the default pool when None) unless it exists."""
        pool_id = pool_id or self._s.batch_pool_id
        job = models.BatchJobCreateOptions(
            id=job_id,
            pool_info=models.BatchPoolInfo(pool_id=pool_id),
            display_name=f"dropbatch files of {job_id.rsplit('-', 1)[-1]}",
        )
        try:
            self._c.create_job(job)
            log.info("created job %s on pool %s", job_id, pool_id)
        except AzureError as e:
            if error_code(e) != "JobExists":
                raise translate(e, f"create job {job_id}") from e
        self._known_jobs.add(job_id)

    def _ensure_known_job(self, job_id: str, pool_id: str | None) -> None:
        if job_id in self._known_jobs:  # its pool was ensured by the caller
            return
        with self._jobs_lock:
            if job_id not in self._known_jobs:
                self.ensure_job(job_id, pool_id)

    def add_task(
        self, job_id: str, task: models.BatchTaskCreateOptions, pool_id: str | None = None
    ) -> bool:
        """Add a task (its job on `pool_id`, default the settings' pool, made when missing);
        True if created, False if it existed already (a duplicate event)."""
        self._ensure_known_job(job_id, pool_id)
        try:
            self._c.create_task(job_id, task)
            return True
        except AzureError as e:
            code = error_code(e)
            if code == "TaskExists":
                return False
            if code in ("JobNotFound", "JobCompleted", "JobBeingDeleted", "JobBeingTerminated"):
                self._known_jobs.discard(job_id)
            raise translate(e, f"add task {task.id} to job {job_id}") from e

    def add_tasks(
        self,
        job_id: str,
        tasks: Sequence[models.BatchTaskCreateOptions],
        pool_id: str | None = None,
    ) -> dict[str, bool | DropbatchError]:
        """Add up to 100 tasks in one request; per task id: True created, False existed
        already (TaskExists), or the error Batch gave that task. An error of the whole request
        is raised (no task of it is assumed created)."""
        if len(tasks) > MAX_TASKS_PER_REQUEST:
            raise ValueError(f"at most {MAX_TASKS_PER_REQUEST} tasks per request")
        self._ensure_known_job(job_id, pool_id)
        try:
            result = self._c.create_task_collection(
                job_id, models.BatchTaskGroup(task_values=list(tasks))
            )
        except AzureError as e:
            if error_code(e) in (
                "JobNotFound",
                "JobCompleted",
                "JobBeingDeleted",
                "JobBeingTerminated",
            ):
                self._known_jobs.discard(job_id)
            raise translate(e, f"add {len(tasks)} tasks to job {job_id}") from e
        outcomes: dict[str, bool | DropbatchError] = {}
        for r in result.result_values or []:
            tid = str(r.task_id)
            status = enum_text(r.status, "")
            code = str(r.error.code) if r.error is not None and r.error.code else ""
            if status == "success":
                outcomes[tid] = True
            elif code == "TaskExists":
                outcomes[tid] = False
            elif status == "servererror":
                outcomes[tid] = TransientError(f"add task {tid} to job {job_id}: {code}")
            else:
                outcomes[tid] = PermanentError(f"add task {tid} to job {job_id}: {code or status}")
        for task in tasks:  # a task the answer left out was not added
            outcomes.setdefault(
                str(task.id), TransientError(f"add task {task.id}: no result in the answer")
            )
        return outcomes

    def task_status(self, job_id: str, task_id: str) -> TaskStatus | None:
        """The task's state and exit code; None when the task (or its job) does not exist."""
        try:
            t = self._c.get_task(
                job_id, task_id, select=["id", "state", "executionInfo", "stateTransitionTime"]
            )
        except AzureError as e:
            if isinstance(e, HttpResponseError) and e.status_code == 404:
                return None
            raise translate(e, f"read task {task_id}") from e
        return _status(t)

    def task_statuses(self, job_id: str, since: dt.datetime) -> dict[str, TaskStatus]:
        """Tasks of a job whose state changed at or after `since`, by id."""
        moment = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            tasks = self._c.list_tasks(
                job_id,
                filter=f"stateTransitionTime ge datetime'{moment}'",
                select=["id", "state", "executionInfo"],
            )
            return {str(t.id): _status(t) for t in tasks}
        except AzureError as e:
            raise translate(e, f"list changed tasks of job {job_id}") from e

    def jobs(self, prefix: str) -> list[JobInfo]:
        """Jobs whose id starts with `prefix`, with their state and creation time."""
        try:
            return [
                JobInfo(str(j.id), enum_text(j.state, "active"), j.creation_time)
                for j in self._c.list_jobs(select=["id", "state", "creationTime"])
                if j.id and j.id.startswith(prefix)
            ]
        except AzureError as e:
            raise translate(e, "list jobs") from e

    def terminate_job(self, job_id: str) -> None:
        """Start ending the job; a completed or missing job is fine."""
        try:
            # Starts the termination; the next cleanup sees the job completed. (azure-batch
            # 15.x needs the options body here, or it fails to build the request.)
            self._c.begin_terminate_job(
                job_id, BatchJobTerminateOptions(termination_reason="DrainedByDropbatch")
            )
        except AzureError as e:
            if error_code(e) not in ("JobCompleted", "JobNotFound"):
                raise translate(e, f"terminate job {job_id}") from e

    def delete_job(self, job_id: str) -> None:
        """Start deleting the job and its tasks; a missing job is fine."""
        self._known_jobs.discard(job_id)
        try:
            self._c.begin_delete_job(job_id)  # started; the service finishes it
        except AzureError as e:
            if error_code(e) not in ("JobNotFound", "JobBeingDeleted"):
                raise translate(e, f"delete job {job_id}") from e

    def job_task_counts(self, job_id: str) -> dict[str, int]:
        """A job's task counts: active (waiting for a node), running, completed, succeeded,
        failed."""
        try:
            counts = self._c.get_job_task_counts(job_id)
        except AzureError as e:
            raise translate(e, f"count tasks of job {job_id}") from e
        return int_fields(counts.task_counts)

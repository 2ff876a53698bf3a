"""The Batch calls a fan-out file needs, on the real adapter: its own job (task
dependencies, `maxParallelTasks`), members added as task collections of at most 100 with a
result per task, reactivation in place, deleting one task, and ending the job when its last
task completes."""

from __future__ import annotations

import logging

from azure.batch import BatchClient, models
from azure.core.exceptions import AzureError

from batch_core.batchclient import error_code, translate

log = logging.getLogger(__name__)


class FanoutCalls:
    """Mixed into `BatchService`: `_c` is its client, `_known_jobs` the jobs it made."""

    _c: BatchClient
    _known_jobs: set[str]

    def create_fanout_job(self, job_id: str, pool_id: str, max_parallel: int | None) -> None:
        """The job of one fan-out file (a job that exists already is fine, as it is)."""
        job = models.BatchJobCreateOptions(
            id=job_id,
            pool_info=models.BatchPoolInfo(pool_id=pool_id),
            display_name=f"dropbatch fan-out {job_id}",
            uses_task_dependencies=True,
            max_parallel_tasks=max_parallel,
        )
        try:
            self._c.create_job(job)
            log.info("created fan-out job %s on pool %s", job_id, pool_id)
        except AzureError as e:
            if error_code(e) != "JobExists":
                raise translate(e, f"create job {job_id}") from e
        self._known_jobs.add(job_id)

    def reactivate_task(self, job_id: str, task_id: str) -> bool:
        """Run a failed task again in place (same id); False when it is not failed any more."""
        try:
            self._c.reactivate_task(job_id, task_id)
            return True
        except AzureError as e:
            if error_code(e) in ("TaskNotCompleted", "TaskSucceeded"):
                return False
            raise translate(e, f"reactivate task {task_id} of job {job_id}") from e

    def delete_task(self, job_id: str, task_id: str) -> None:
        """Delete one task (a missing one is fine)."""
        try:
            self._c.delete_task(job_id, task_id)
        except AzureError as e:
            if error_code(e) not in ("TaskNotFound", "JobNotFound"):
                raise translate(e, f"delete task {task_id} of job {job_id}") from e

    def end_job_when_done(self, job_id: str) -> None:
        """Let Batch end the job once all its tasks have completed (onAllTasksComplete)."""
        try:
            self._c.update_job(
                job_id, models.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob")
            )
        except AzureError as e:
            if error_code(e) in ("JobCompleted", "JobNotFound"):
                return
            raise translate(e, f"update job {job_id}") from e


def _message(error: object) -> str:
    message = getattr(error, "message", None)
    value = getattr(message, "value", message)
    return str(value or "")

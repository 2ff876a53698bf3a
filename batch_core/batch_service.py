"""Azure Batch as the pipeline uses it: the pool, the job of the day, one task per file."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.batch import BatchClient, models

# Not exported by azure.batch.models in 15.x, though begin_terminate_job takes it.
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from batch_core.credentials import batch_credential
from batch_core.errors import DropbatchError, NotFoundError, PermanentError, TransientError
from batch_core.fanoutbatch import FanoutCalls
from batch_core.pools import PoolPlan, default_plan
from batch_core.pools import autoscale_formula as autoscale_formula  # its first home was here
from batch_core.poolstate import PoolUse
from batch_core.settings import Settings

if TYPE_CHECKING:
    from batch_core.poolcheck import PoolKeeper, PoolProblem

log = logging.getLogger(__name__)


def batch_client(settings: Settings) -> BatchClient:
    credential = batch_credential(settings.batch_account, settings.batch_key, settings.identity)
    return BatchClient(settings.batch_url, credential)  # type: ignore[arg-type]


def error_code(error: AzureError) -> str | None:
    """Batch's error code (TaskExists, JobNotFound, ...) from an SDK exception."""
    model = getattr(error, "model", None)
    code = getattr(model, "code", None)
    if code:
        return str(code)
    response = getattr(error, "response", None)
    if response is None:
        return None
    try:
        response.read()  # a streamed error response (file downloads) is not read yet
        body = json.loads(response.text())
    except (AzureError, ValueError, TypeError, AttributeError):
        return None
    return str(body.get("code")) if isinstance(body, dict) and body.get("code") else None


def enum_text(value: object, default: str) -> str:
    """The wire value of an SDK enum (str() of these gives 'BatchTaskState.COMPLETED')."""
    if value is None:
        return default
    return str(getattr(value, "value", value))


def translate(error: AzureError, doing: str) -> DropbatchError:
    code = error_code(error)
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return TransientError(f"{doing}: Batch unreachable ({type(error).__name__})")
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        if status in (401, 403):
            return PermanentError(
                f"{doing}: Batch refused the credentials (HTTP {status} {code or ''}); check "
                "DROPBATCH_BATCH_ACCOUNT and DROPBATCH_BATCH_KEY, or the app identity's role on "
                "the Batch account"
            )
        if status == 404:
            return NotFoundError(f"{doing}: {code or 'not found'}")
        if status in (408, 429) or status >= 500:
            return TransientError(f"{doing}: Batch answered HTTP {status} {code or ''}".rstrip())
        return PermanentError(f"{doing}: Batch answered HTTP {status} {code or ''}".rstrip())
    return PermanentError(f"{doing}: {type(error).__name__}: {error}")


@dataclass(frozen=True)
class TaskStatus:
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
    id: str
    state: str
    created_at: dt.datetime | None


class BatchService(FanoutCalls):
    def __init__(self, client: BatchClient, settings: Settings) -> None:
        self._c = client
        self._s = settings
        self._known_jobs: set[str] = set()
        self._keeper: PoolKeeper | None = None

    def ensure_pool(self) -> None:
        pool_id = self._s.batch_pool_id
        try:
            if self._pool_exists(pool_id):
                return
            self._c.create_pool(self._pool_spec())
            log.info("created pool %s (%s)", pool_id, self._s.batch_vm_size)
        except AzureError as e:
            if error_code(e) == "PoolExists":
                return
            raise translate(e, f"create pool {pool_id}") from e

    def _pool_exists(self, pool_id: str) -> bool:
        # azure-batch 15.x raises on the 404 of HEAD instead of returning False.
        try:
            return bool(self._c.pool_exists(pool_id))
        except ResourceNotFoundError:
            return False

    def _pool_spec(self) -> models.BatchPoolCreateOptions:
        create = default_plan(self._s).create
        assert create is not None  # the default pool is always dropbatch's own
        return create

    def ensure_pools(self, plans: Iterable[PoolPlan]) -> list[PoolProblem]:
        """Create the missing data pools; report pools that differ from their plan and
        missing external pools (once per process: later calls cost nothing)."""
        if self._keeper is None:
            from batch_core.assets import Assets
            from batch_core.blobstore import blob_service
            from batch_core.poolcheck import PoolKeeper

            settings = self._s
            self._keeper = PoolKeeper(
                self._c, lambda: Assets(blob_service(settings), settings).ensure_worker_wheel()
            )
        return self._keeper.ensure(plans)

    def pool_problems(self, plan: PoolPlan) -> list[PoolProblem] | None:
        """How the plan's pool differs from it now (no cache, nothing created); None when it
        is a data pool not created yet."""
        from batch_core.poolcheck import inspect

        return inspect(self._c, plan)

    def pool_use(self, pool_id: str) -> PoolUse | None:
        """What cleanup needs to tell whether a pool is idle; None when it does not exist."""
        try:
            pool = self._c.get_pool(
                pool_id, select=["id", "creationTime", "allocationStateTransitionTime"]
            )
            jobs = [
                j
                for j in self._c.list_jobs(select=["id", "state", "poolInfo"])
                if j.pool_info is not None
                and j.pool_info.pool_id == pool_id
                and enum_text(j.state, "active") in ("active", "terminating")
            ]
            unfinished = sum(self.unfinished_tasks(str(j.id)) for j in jobs)
            moments = [m for m in (pool.creation_time, pool.allocation_state_transition_time) if m]
            for j in [] if unfinished else jobs:
                moments.extend(
                    t.state_transition_time
                    for t in self._c.list_tasks(str(j.id), select=["id", "stateTransitionTime"])
                    if t.state_transition_time
                )
        except ResourceNotFoundError:
            return None
        except AzureError as e:
            raise translate(e, f"read the use of pool {pool_id}") from e
        return PoolUse(pool_id, unfinished, max(moments))

    def delete_pool(self, pool_id: str) -> None:
        try:
            self._c.begin_delete_pool(pool_id)  # started; the service finishes it
        except AzureError as e:
            if error_code(e) not in ("PoolNotFound", "PoolBeingDeleted"):
                raise translate(e, f"delete pool {pool_id}") from e

    def ensure_job(self, job_id: str, pool_id: str | None = None) -> None:
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

    def add_task(
        self, job_id: str, task: models.BatchTaskCreateOptions, pool_id: str | None = None
    ) -> bool:
        """Add a task (its job on `pool_id`, default the settings' pool, made when missing);
        True if created, False if it existed already (a duplicate event)."""
        if job_id not in self._known_jobs:  # its pool was ensured by the caller
            self.ensure_job(job_id, pool_id)
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

    def task_status(self, job_id: str, task_id: str) -> TaskStatus | None:
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
        try:
            return [
                JobInfo(str(j.id), enum_text(j.state, "active"), j.creation_time)
                for j in self._c.list_jobs(select=["id", "state", "creationTime"])
                if j.id and j.id.startswith(prefix)
            ]
        except AzureError as e:
            raise translate(e, "list jobs") from e

    def unfinished_tasks(self, job_id: str) -> int:
        try:
            counts = self._c.get_job_task_counts(job_id)
        except AzureError as e:
            raise translate(e, f"count tasks of job {job_id}") from e
        return int(counts.task_counts.active + counts.task_counts.running)

    def terminate_job(self, job_id: str) -> None:
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
        self._known_jobs.discard(job_id)
        try:
            self._c.begin_delete_job(job_id)  # started; the service finishes it
        except AzureError as e:
            if error_code(e) not in ("JobNotFound", "JobBeingDeleted"):
                raise translate(e, f"delete job {job_id}") from e

    def pool_node_counts(self) -> PoolNodeCounts:
        """The pool's node counts by state (empty when the pool does not exist yet)."""
        pool_id = self._s.batch_pool_id
        try:
            for entry in self._c.list_pool_node_counts():
                if entry.pool_id == pool_id:
                    return PoolNodeCounts(
                        pool_id, _node_counts(entry.dedicated), _node_counts(entry.low_priority)
                    )
        except AzureError as e:
            raise translate(e, f"count the nodes of pool {pool_id}") from e
        return PoolNodeCounts(pool_id, {}, {})

    def job_task_counts(self, job_id: str) -> dict[str, int]:
        """A job's task counts: active (waiting for a node), running, completed, succeeded,
        failed."""
        try:
            counts = self._c.get_job_task_counts(job_id)
        except AzureError as e:
            raise translate(e, f"count tasks of job {job_id}") from e
        return _int_fields(counts.task_counts)


@dataclass(frozen=True)
class PoolNodeCounts:
    """How many of the pool's nodes are in each state (idle, running, starting, ...,
    total), for dedicated and for spot (low-priority) nodes."""

    pool_id: str
    dedicated: dict[str, int]
    spot: dict[str, int]


def _node_counts(counts: models.BatchNodeCounts | None) -> dict[str, int]:
    return _int_fields(counts) if counts is not None else {}


def _int_fields(model: models.BatchNodeCounts | models.BatchTaskCounts) -> dict[str, int]:
    return {str(k): int(v) for k, v in model.as_dict().items() if isinstance(v, int)}

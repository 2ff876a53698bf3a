"""The ports batch_core talks through: one `Protocol` per outside service, holding exactly
the calls the pipeline makes. The real adapters (`ledger`, `blobstore`, `batch_service`,
`alerts`, `poison`, `records`) implement them over the Azure SDKs; `batch_core.testing`
implements them in memory. `tests/contract` runs the same assertions on both, so what each
method promises below is what both keep.

Every method raises only `batch_core.errors` types: `TransientError` (worth another try,
`ConflictError` among them), `PermanentError` (`NotFoundError` among them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from azure.batch import models

from batch_core.alerts import Alert
from batch_core.batch_service import JobInfo, PoolNodeCounts, TaskStatus
from batch_core.blobstore import BlobRef
from batch_core.errors import DropbatchError
from batch_core.ledger import RunFilter
from batch_core.poison import PoisonMessage
from batch_core.poolcheck import PoolProblem
from batch_core.pools import PoolPlan
from batch_core.poolstate import PoolUse
from batch_core.run import Run
from batch_core.states import RunState


class LedgerPort(Protocol):
    """The run documents, one per file version, with optimistic concurrency."""

    def create(self, run: Run) -> tuple[Run, bool]:
        """Store a new run: (the stored run, True). If its key exists already (a duplicate
        event), never overwrite: (the run as stored, False)."""
        ...

    def get(self, key: str) -> Run | None:
        """The stored run, with its document etag; None when there is none."""
        ...

    def save(self, run: Run) -> Run:
        """Replace the stored run and return it with its new document etag. With a
        `doc_etag`, only if the stored document still has it: ConflictError otherwise.
        NotFoundError when there is no such run."""
        ...

    def advance(
        self, run: Run, state: RunState, reason: str, at: dt.datetime, **changes: Any
    ) -> Run:
        """`save` the run moved to `state` (history entry, reason, `updated_at` = `at`, the
        field `changes`). ConflictError when the move goes backward or out of a terminal
        state, or when the run's etag is stale."""
        ...

    def active(self) -> list[Run]:
        """Runs in received, submitted or running state."""
        ...

    def unalerted(self) -> list[Run]:
        """Runs whose incident alert is due (`alert_due`: failed or rejected, not yet
        alerted), and failed runs not marked `alerted`."""
        ...

    def expirable_parts(self, before: dt.datetime, limit: int = 100) -> list[Run]:
        """At most `limit` ended runs with a parent (files extracted from a zip), last
        updated before `before`, whose input is not yet removed."""
        ...

    def unsettled(self, limit: int = 200) -> list[Run]:
        """At most `limit` ended runs whose file is still where it was dropped and was not
        settled there (not `input_removed`, `original` null)."""
        ...

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` have a run, whatever its state (read by key: the cost follows
        `keys`, not the ledger's history)."""
        ...

    def recent(self, limit: int = 200, state: RunState | None = None) -> list[Run]:
        """At most `limit` runs (in `state`, when given), most recently updated first."""
        ...

    def newest(self, match: RunFilter, limit: int, updated_at_most: str | None = None) -> list[Run]:
        """At most `limit` runs that `match`, most recently updated first; with
        `updated_at_most` (an ISO time as stored), only those updated then or earlier."""
        ...


class BlobsPort(Protocol):
    """Blob storage of one account: listing, etags, results, logs and quarantine."""

    @property
    def account(self) -> str:
        """The storage account's name (part of every file key)."""
        ...

    def provision(self) -> None:
        """Create the pipeline's containers if missing (idempotent)."""
        ...

    def list(self, container: str, prefix: str | None = None) -> Iterator[BlobRef]:
        """Every blob of `container` (whose name starts with `prefix`), in name order, with
        etag, size, last-modified time and metadata. NotFoundError for a missing container."""
        ...

    def upload(self, container: str, name: str, data: bytes) -> BlobRef:
        """Write (overwriting) as an operator would; what a trigger would be told. A write
        always gives the blob a new etag."""
        ...

    def properties(self, container: str, name: str) -> BlobRef | None:
        """What a trigger is told of the blob now (name, unquoted etag, size, time,
        metadata); None when the blob or its container is gone."""
        ...

    def current_etag(self, container: str, name: str) -> str | None:
        """The blob's etag now (unquoted); None when the blob or its container is gone."""
        ...

    def snapshot(self, container: str, name: str, etag: str) -> str:
        """A read-only snapshot of exactly version `etag` of the blob; its id. VanishedError
        when the blob is gone or has another etag now."""
        ...

    def read_tail(self, container: str, name: str, max_bytes: int = 8192) -> bytes | None:
        """The last `max_bytes` of the blob; None when it (or its container) is missing."""
        ...

    def read_json(self, container: str, name: str) -> dict[str, Any] | None:
        """The blob parsed as a JSON object; None when it is missing or not an object.
        PermanentError when it is not JSON."""
        ...

    def write(self, container: str, name: str, data: bytes | str, content_type: str) -> None:
        """Write (overwriting) a blob. NotFoundError for a missing container."""
        ...

    def delete(self, container: str, name: str, etag: str) -> bool:
        """Delete that version of the blob: True if deleted, False if it is gone or its
        etag is no longer `etag` (replaced since)."""
        ...

    def copy(
        self,
        src_container: str,
        name: str,
        dst_container: str,
        dst_name: str,
        metadata: Mapping[str, str] | None = None,
        etag: str | None = None,
    ) -> bool:
        """Copy a blob (content and metadata, updated with `metadata`) within the account,
        overwriting the target: True if copied, False when the source (or the target's
        container) is gone, or with `etag`, when the source has another etag now (nothing
        is copied). The target gets a new etag, even when it is the source."""
        ...


class BatchPort(Protocol):
    """Azure Batch: the jobs of the days, one task per file attempt."""

    def ensure_pools(self, plans: Iterable[PoolPlan]) -> list[PoolProblem]:
        """Create the missing data pools; return how existing pools differ from their plans
        and which external pools are missing (checked once per process)."""
        ...

    def add_task(
        self, job_id: str, task: models.BatchTaskCreateOptions, pool_id: str | None = None
    ) -> bool:
        """Create the task (and the pool and job if missing): True if created, False when a
        task of that id exists already (TaskExists: a duplicate). Raises when the job is
        completed or being deleted (PermanentError) or Batch is unavailable (TransientError)."""
        ...

    def add_tasks(
        self,
        job_id: str,
        tasks: Sequence[models.BatchTaskCreateOptions],
        pool_id: str | None = None,
    ) -> dict[str, bool | DropbatchError]:
        """Add up to 100 tasks in one request (the job made when missing): per task id True
        (created), False (it existed: TaskExists) or the error of that task. A failure of the
        whole request is raised."""
        ...

    def task_status(self, job_id: str, task_id: str) -> TaskStatus | None:
        """The task's state (active, preparing, running, completed), exit code, failure and
        times; None when the task or its job does not exist."""
        ...

    def task_statuses(self, job_id: str, since: dt.datetime) -> dict[str, TaskStatus]:
        """Tasks of the job whose state changed at or after `since` (whole seconds), by id.
        NotFoundError when the job does not exist."""
        ...

    def jobs(self, prefix: str) -> list[JobInfo]:
        """Jobs whose id starts with `prefix`, with state (active, terminating, completed,
        deleting) and creation time."""
        ...

    def unfinished_tasks(self, job_id: str) -> int:
        """How many tasks of the job are active or running. NotFoundError without the job."""
        ...

    def terminate_job(self, job_id: str) -> None:
        """Start ending the job (it becomes completed); a completed or missing job is fine."""
        ...

    def delete_job(self, job_id: str) -> None:
        """Start deleting the job and its tasks; a missing job is fine."""
        ...

    def pool_use(self, pool_id: str) -> PoolUse | None:
        """Tasks not finished on the pool and when it last did work; None without the pool."""
        ...

    def delete_pool(self, pool_id: str) -> None:
        """Start deleting the pool (and forget it was ensured); a missing pool is fine."""
        ...

    def pool_node_counts(self) -> PoolNodeCounts:
        """The pool's nodes by state, dedicated and spot (empty when there is no pool)."""
        ...

    def job_task_counts(self, job_id: str) -> dict[str, int]:
        """A job's task counts: active, running, completed, succeeded, failed."""
        ...

    # A fan-out file's own job (see `batch_core.fanoutbatch`).

    def create_fanout_job(self, job_id: str, pool_id: str, max_parallel: int | None) -> None:
        """Create the job with task dependencies on and at most `max_parallel` tasks running
        at once (None: no limit); an existing job is fine, as it is."""
        ...

    def reactivate_task(self, job_id: str, task_id: str) -> bool:
        """Run a failed task again, same id; False when the task is not failed (any more)."""
        ...

    def delete_task(self, job_id: str, task_id: str) -> None:
        """Delete one task; a missing one is fine."""
        ...

    def end_job_when_done(self, job_id: str) -> None:
        """Batch ends the job once every task has completed; a completed job is fine."""
        ...


class AlertsPort(Protocol):
    """Telling an operator, once per incident."""

    def raise_alert(self, alert: Alert) -> bool:
        """Record the alert, then deliver it to the webhook if one is set: True if raised,
        False when an alert of the same id was raised before (nothing is sent again)."""
        ...

    def redeliver(self, now: dt.datetime | None = None, limit: int = 20) -> int:
        """Post again up to `limit` recorded alerts the webhook did not take; return how many
        went through now (0 without a webhook). An alert waiting past
        ten minutes (at `now`) means the webhook is failing: that raises a `webhook` alert,
        recorded and not posted, once a day."""
        ...

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """At most `limit` recorded alert documents, newest first."""
        ...


class PoisonPort(Protocol):
    """The host's poison queue of blob triggers."""

    def take(self) -> list[PoisonMessage]:
        """Up to 32 messages, hidden from the next `take` for a while; [] when the queue
        does not exist. A message comes back later unless it is deleted."""
        ...

    def delete(self, message: PoisonMessage) -> None:
        """Remove a taken message for good."""
        ...


class RecordsPort(Protocol):
    """The documents the worker writes for each file version."""

    def purge(self, file_key: str) -> int:
        """Delete every document of the file version `file_key`; return how many."""
        ...

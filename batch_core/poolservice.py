"""The pool side of the Batch port: dropbatch's own pools created from their plans, pools
that differ from the routes file or are missing reported (never recreated), node counts
for the status page, and what cleanup needs to delete an idle pool."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.batch import BatchClient, models
from azure.core.exceptions import AzureError, ResourceNotFoundError

from batch_core.batchclient import enum_text, error_code, translate
from batch_core.pools import PoolPlan, default_plan
from batch_core.poolstate import PoolUse
from batch_core.settings import Settings

if TYPE_CHECKING:
    from batch_core.poolcheck import PoolKeeper, PoolProblem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolNodeCounts:
    """How many of the pool's nodes are in each state (idle, running, starting, ...,
    total), for dedicated and for spot (low-priority) nodes."""

    pool_id: str
    dedicated: dict[str, int]
    spot: dict[str, int]


class PoolService:
    """The pool operations of the Batch port, over the real SDK client."""

    def __init__(self, client: BatchClient, settings: Settings) -> None:
        self._c = client
        self._s = settings
        self._keeper: PoolKeeper | None = None

    def unfinished_tasks(self, job_id: str) -> int:
        """How many tasks of the job are active or running. NotFoundError without the job."""
        try:
            counts = self._c.get_job_task_counts(job_id)
        except AzureError as e:
            raise translate(e, f"count tasks of job {job_id}") from e
        return int(counts.task_counts.active + counts.task_counts.running)

    def ensure_pool(self) -> None:
        """Create the default pool (from the settings) unless it exists."""
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
        """Start deleting the pool; a pool already gone or being deleted is fine."""
        if self._keeper is not None:
            self._keeper.forget(pool_id)  # a later file has it created again
        try:
            self._c.begin_delete_pool(pool_id)  # started; the service finishes it
        except AzureError as e:
            if error_code(e) not in ("PoolNotFound", "PoolBeingDeleted"):
                raise translate(e, f"delete pool {pool_id}") from e

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


def _node_counts(counts: models.BatchNodeCounts | None) -> dict[str, int]:
    return int_fields(counts) if counts is not None else {}


def int_fields(model: models.BatchNodeCounts | models.BatchTaskCounts) -> dict[str, int]:
    """The integer fields of a counts model, by their wire names."""
    return {str(k): int(v) for k, v in model.as_dict().items() if isinstance(v, int)}

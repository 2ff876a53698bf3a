"""The twin's pool calls (see `batch_core.poolservice`): the routes file's pools ensured
(an external one reported missing), their use for cleanup, deleting one, node counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from batch_core.batch_service import PoolNodeCounts
from batch_core.poolcheck import PoolProblem
from batch_core.pools import PoolPlan
from batch_core.poolstate import PoolUse

if TYPE_CHECKING:
    from batch_core.settings import Settings
    from batch_core.testing.batch import MemoryJob
    from batch_core.testing.clock import FakeClock


class MemoryPools:
    """Mixed into `MemoryBatch`, whose state and helpers these are."""

    _s: Settings
    _clock: FakeClock
    pools: set[str]
    pool_created: dict[str, dt.datetime]
    jobs_by_id: dict[str, MemoryJob]

    if TYPE_CHECKING:

        def _request(self, operation: str, *args: object) -> None: ...

    def ensure_pools(self, plans: Iterable[PoolPlan]) -> list[PoolProblem]:
        """As the real adapter: data pools made, a missing external one reported."""
        problems = []
        for plan in plans:
            if plan.pool_id in self.pools:
                continue
            self._request("PoolExists", plan.pool_id)
            if plan.create is None:
                problems.append(PoolProblem(plan.alias, plan.pool_id, "exists", True, False))
                continue
            self._request("CreatePool", plan.pool_id)
            self.pools.add(plan.pool_id)
            self.pool_created[plan.pool_id] = self._clock.now()
        return problems

    def pool_use(self, pool_id: str) -> PoolUse | None:
        """As the real adapter: unfinished tasks on the pool and its last activity."""
        self._request("GetPool", pool_id)
        if pool_id not in self.pools:
            return None
        jobs = [j for j in self.jobs_by_id.values() if j.pool_id == pool_id]
        unfinished = sum(
            t.state in ("active", "preparing", "running") for j in jobs for t in j.tasks.values()
        )
        moments = [self.pool_created.get(pool_id, self._clock.now())]
        moments.extend(t.changed_at for j in jobs for t in j.tasks.values())
        return PoolUse(pool_id, unfinished, max(moments))

    def delete_pool(self, pool_id: str) -> None:
        """As the real adapter: the pool gone (a later file makes it again)."""
        self._request("DeletePool", pool_id)
        self.pools.discard(pool_id)

    def pool_node_counts(self) -> PoolNodeCounts:
        """As the real adapter, with no nodes (the twin has none)."""
        self._request("ListPoolNodeCounts")
        return PoolNodeCounts(self._s.batch_pool_id, {}, {})

    def ensure_pool(self) -> None:
        """Create the default pool unless it exists, as BatchService does."""
        self._request("PoolExists", self._s.batch_pool_id)
        if self._s.batch_pool_id not in self.pools:
            self._request("CreatePool", self._s.batch_pool_id)
            self.pools.add(self._s.batch_pool_id)

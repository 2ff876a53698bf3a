"""Making the routebook's pools exist: a missing data pool is created; a pool that exists is
compared with its plan and used as it is, each difference reported (never "fixed", never
recreated); a missing external pool is reported, never created."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from azure.batch import BatchClient, models
from azure.core.exceptions import AzureError, ResourceNotFoundError

from batch_core.batchclient import error_code, translate
from batch_core.pools import PoolPlan
from batch_core.poolstate import pool_properties

log = logging.getLogger(__name__)

MISSING_RECHECK_SECONDS = 300.0  # a missing external pool is looked for again after this


@dataclass(frozen=True)
class PoolProblem:
    """A pool that is not as its plan says: `property_name` with the `expected` and `actual`
    values (`exists` for a missing external pool)."""

    alias: str
    pool_id: str
    property_name: str
    expected: object
    actual: object

    @property
    def message(self) -> str:
        """The operator-facing text: which pool, what differs from the plan (or that it is missing),
        what to do."""
        if self.property_name == "exists":
            return (
                f"pool '{self.alias}' ({self.pool_id}) is external and does not exist; create it "
                "(with the worker identity) or change the routes file"
            )
        return (
            f"pool '{self.alias}' ({self.pool_id}): {self.property_name} is {self.actual!r}, "
            f"the routes file says {self.expected!r}; the pool is used as it is (dropbatch "
            "never recreates a pool: delete it to have it created again)"
        )


def differences(plan: PoolPlan, pool: models.BatchPool) -> list[PoolProblem]:
    """The plan's expected properties that the pool Batch has does not match."""
    actual = pool_properties(pool)
    return [
        PoolProblem(plan.alias, plan.pool_id, name, want, actual.get(name))
        for name, want in plan.expected.items()
        if actual.get(name) != want
    ]


class PoolKeeper:
    """Checks each plan once per process (a missing pool again after a while), so that
    calling `ensure` for every file costs nothing after the first."""

    def __init__(
        self,
        client: BatchClient,
        upload_wheel: Callable[[], object],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._c = client
        self._upload_wheel = upload_wheel
        self._clock = clock
        self._done: dict[str, tuple[float | None, list[PoolProblem]]] = {}
        self._lock = threading.Lock()

    def ensure(self, plans: Iterable[PoolPlan]) -> list[PoolProblem]:
        """Create the missing data pools and return every problem found (pools that differ
        from their plans, external pools that are missing). Each pool is checked once; a
        missing external pool again after a while."""
        problems: list[PoolProblem] = []
        for plan in plans:
            cached = self._done.get(plan.pool_id)
            if self._stale(cached):
                # The first files of a burst come at once: one of them checks, the rest wait.
                with self._lock:
                    cached = self._done.get(plan.pool_id)
                    if self._stale(cached):
                        cached = self._check(plan)
                        self._done[plan.pool_id] = cached
            assert cached is not None
            problems.extend(cached[1])
        return problems

    def _stale(self, cached: tuple[float | None, list[PoolProblem]] | None) -> bool:
        return cached is None or (cached[0] is not None and self._clock() >= cached[0])

    def forget(self, pool_id: str) -> None:
        """The pool is being deleted: check it again (create it) when a file next needs it."""
        self._done.pop(pool_id, None)

    def _check(self, plan: PoolPlan) -> tuple[float | None, list[PoolProblem]]:
        found = inspect(self._c, plan)
        if found is not None:
            for p in found:
                log.warning("%s", p.message)
            # Checked again after a while: another instance may delete an idle pool.
            return self._clock() + MISSING_RECHECK_SECONDS, found
        assert plan.create is not None
        if plan.worker_wheel:
            self._upload_wheel()
        try:
            self._c.create_pool(plan.create)
            log.info("created pool %s for pool '%s'", plan.pool_id, plan.alias)
        except AzureError as e:
            if error_code(e) != "PoolExists":
                raise translate(e, f"create pool {plan.pool_id}") from e
            return self._check(plan)  # created meanwhile by another instance: compare it
        return self._clock() + MISSING_RECHECK_SECONDS, []


def inspect(client: BatchClient, plan: PoolPlan) -> list[PoolProblem] | None:
    """The problems of the plan's pool as Batch has it (a missing external pool is one);
    None when it is a data pool that does not exist yet (dropbatch creates it)."""
    try:
        pool = client.get_pool(plan.pool_id)
    except ResourceNotFoundError:
        if plan.create is not None:
            return None
        return [PoolProblem(plan.alias, plan.pool_id, "exists", True, False)]
    except AzureError as e:
        raise translate(e, f"read pool {plan.pool_id}") from e
    return differences(plan, pool)

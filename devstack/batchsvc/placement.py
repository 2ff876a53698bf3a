"""Placement: which active tasks go to which free node slots, as Batch schedules them."""

from __future__ import annotations

from collections.abc import Callable

from devstack.batchsvc import dependencies
from devstack.batchsvc.registry import Job, Node, PoolRecord, ServiceRegistry, TaskRecord

NodeCheck = Callable[[Job, PoolRecord, Node], bool]


def usable_nodes(pool: PoolRecord) -> list[Node]:
    return [
        n
        for n in pool.nodes.values()
        if n.doc.get("state") in ("idle", "running") and n.doc.get("schedulingState") == "enabled"
    ]


def choose(
    registry: ServiceRegistry, running_per_job: dict[str, int], node_ready_for: NodeCheck
) -> list[tuple[Job, PoolRecord, Node, TaskRecord]]:
    """Tasks to start now, highest job priority first, then in the order they were added.

    Respects free slots per node (taskSlotsPerNode minus what runs, a task's requiredSlots),
    the pool's nodeFillType (spread: the emptiest node; pack: the first that fits), the job's
    maxParallelTasks, affinityInfo (a preference), task dependencies and job preparation
    tasks (`node_ready_for`).
    Slots and task ids are only chosen here; the caller starts them (registry lock held).
    """
    chosen: list[tuple[Job, PoolRecord, Node, TaskRecord]] = []
    jobs = sorted(
        (j for j in registry.jobs.values() if j.state == "active" and j.pending),
        key=lambda j: (-int(j.doc.get("priority") or 0), j.seq),
    )
    taken: dict[str, int] = {}  # node id -> slots given out in this pass
    for job in jobs:
        pool = registry.pools.get(job.pool_id)
        if pool is None or pool.doc.get("state") != "active":
            continue
        nodes = [n for n in usable_nodes(pool) if node_ready_for(job, pool, n)]
        if not nodes:
            continue
        free = {n.id: pool.slots_per_node - n.used_slots - taken.get(n.id, 0) for n in nodes}
        if max(free.values()) <= 0:
            continue
        pack = (
            (pool.doc.get("taskSchedulingPolicy") or {}).get("nodeFillType") or "spread"
        ) == "pack"
        parallel = job.doc.get("maxParallelTasks")
        max_parallel = -1 if parallel is None else int(parallel)
        running = running_per_job.get(job.id, 0)
        for task_id in list(job.pending):
            if 0 <= max_parallel <= running:
                break
            task = job.tasks.get(task_id)
            if task is None or task.state != "active":
                job.pending.pop(task_id, None)
                continue
            if not dependencies.met(job, task):
                continue
            node = _fit(nodes, free, task.slots, pack, _affinity(task))
            if node is None:
                if max(free.values()) <= 0:
                    break
                continue
            free[node.id] -= task.slots
            taken[node.id] = taken.get(node.id, 0) + task.slots
            running += 1
            chosen.append((job, pool, node, task))
    return chosen


def _affinity(task: TaskRecord) -> str | None:
    info = task.doc.get("affinityInfo") or {}
    return str(info["affinityId"]) if info.get("affinityId") else None


def _fit(
    nodes: list[Node], free: dict[str, int], slots: int, pack: bool, affinity: str | None
) -> Node | None:
    fits = [n for n in nodes if free[n.id] >= slots]
    if not fits:
        return None
    # affinityInfo is a preference: the named node if it has room, else any node.
    preferred = [n for n in fits if affinity and n.doc.get("affinityId") == affinity]
    if preferred:
        return preferred[0]
    if pack:
        return fits[0]
    return max(fits, key=lambda n: free[n.id])

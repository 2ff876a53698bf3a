"""The in-memory state of the account (pools, nodes, jobs, tasks), written through to SQLite."""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.batchsvc.store import Store
from devstack.batchsvc.timestamps import etag, iso, now

_INTEGER = re.compile(r"^-?[0-9]+$")


def touch(doc: dict[str, Any]) -> None:
    """A new entity tag and modification time, as every Batch update does."""
    doc["eTag"] = etag()
    doc["lastModified"] = iso(now())


def transition(doc: dict[str, Any], state: str) -> None:
    moment = iso(now())
    if doc.get("state") != state:
        if "state" in doc:
            doc["previousState"] = doc["state"]
            doc["previousStateTransitionTime"] = doc.get("stateTransitionTime", moment)
        doc["state"] = state
        doc["stateTransitionTime"] = moment
    touch(doc)


@dataclass
class Node:
    pool_id: str
    seq: int
    doc: dict[str, Any]
    root: Path
    # runtime only: (job id, task id) -> slots taken
    running: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def used_slots(self) -> int:
        return sum(self.running.values())


@dataclass
class PoolRecord:
    seq: int
    doc: dict[str, Any]
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def slots_per_node(self) -> int:
        return int(self.doc.get("taskSlotsPerNode") or 1)


@dataclass
class TaskRecord:
    job_id: str
    seq: int
    doc: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def state(self) -> str:
        return str(self.doc["state"])

    @property
    def slots(self) -> int:
        return int(self.doc.get("requiredSlots") or 1)


@dataclass
class Job:
    seq: int
    doc: dict[str, Any]
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    # runtime only: ids of active tasks in the order they were added (an ordered set)
    pending: dict[str, None] = field(default_factory=dict)
    # runtime only: integer value -> ids of the tasks whose id is that integer ("4", "04")
    numbered: dict[int, list[str]] = field(default_factory=dict)

    def add_task(self, task: TaskRecord) -> None:
        """Hold the task (and index its id when it is an integer, for taskIdRanges)."""
        self.tasks[task.id] = task
        if _INTEGER.match(task.id):
            self.numbered.setdefault(int(task.id), []).append(task.id)

    def remove_task(self, task_id: str) -> None:
        self.tasks.pop(task_id, None)
        self.pending.pop(task_id, None)
        if _INTEGER.match(task_id):
            ids = self.numbered.get(int(task_id), [])
            if task_id in ids:
                ids.remove(task_id)
            if not ids:
                self.numbered.pop(int(task_id), None)

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def state(self) -> str:
        return str(self.doc["state"])

    @property
    def pool_id(self) -> str:
        return str((self.doc.get("poolInfo") or {}).get("poolId") or "")


class ServiceRegistry:
    """All entities, one lock; every mutation is saved before the lock is released."""

    def __init__(self, store: Store, base_url: str = "") -> None:
        self.lock = threading.RLock()
        self.store = store
        self.base_url = base_url
        self.pools: dict[str, PoolRecord] = {}
        self.jobs: dict[str, Job] = {}
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)

    def load(self, nodes_root: Path) -> None:
        top = 0
        for seq, doc in self.store.load("pools"):
            self.pools[doc["id"]] = PoolRecord(seq, doc)
            top = max(top, seq)
        for seq, doc in self.store.load("nodes"):
            pool = self.pools.get(doc.get("_poolId", ""))
            if pool is not None:
                pool.nodes[doc["id"]] = Node(pool.id, seq, doc, nodes_root / pool.id / doc["id"])
            top = max(top, seq)
        for seq, doc in self.store.load("jobs"):
            self.jobs[doc["id"]] = Job(seq, doc)
            top = max(top, seq)
        for seq, doc in self.store.load("tasks"):
            job = self.jobs.get(doc.get("_jobId", ""))
            if job is not None:
                job.add_task(TaskRecord(job.id, seq, doc))
                if doc.get("state") == "active":
                    job.pending[doc["id"]] = None
            top = max(top, seq)
        self._seq = itertools.count(top + 1)

    # persistence -------------------------------------------------------------------------

    def save_pool(self, pool: PoolRecord) -> None:
        self.store.put_pool(pool.seq, pool.doc)

    def save_node(self, node: Node) -> None:
        node.doc["_poolId"] = node.pool_id
        self.store.put_node(node.pool_id, node.seq, node.doc)

    def save_job(self, job: Job) -> None:
        self.store.put_job(job.seq, job.doc)

    def save_task(self, task: TaskRecord) -> None:
        task.doc["_jobId"] = task.job_id
        self.store.put_task(task.job_id, task.seq, task.doc)

    def save_tasks(self, job_id: str, tasks: list[TaskRecord]) -> None:
        for task in tasks:
            task.doc["_jobId"] = task.job_id
        self.store.put_tasks(job_id, [(t.seq, t.doc) for t in tasks])

    # rendering -----------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of the document as the REST API shows it: internal `_` keys removed.

    Deep, so that it can be serialised after the lock is released while the scheduler keeps
    changing the original (executionInfo, nodeInfo, ...).
    """
    return {k: _copy(v) for k, v in doc.items() if not k.startswith("_")}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value

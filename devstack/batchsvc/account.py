"""The Batch account served: its state, its scheduler and its node settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from devstack.batchsvc.faults import FaultPlan
from devstack.batchsvc.nodes import NodeFile, new_node, prepare_node_dir
from devstack.batchsvc.registry import Pool, Registry
from devstack.batchsvc.scheduler import RunConfig, Scheduler
from devstack.batchsvc.store import Store

log = logging.getLogger(__name__)


@dataclass
class Account:
    name: str
    registry: Registry
    scheduler: Scheduler
    nodes_root: Path
    node_files: list[NodeFile] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.registry.base_url

    @classmethod
    def open(
        cls,
        name: str,
        base_url: str,
        state_dir: Path,
        nodes_root: Path,
        node_files: list[NodeFile],
        node_env: dict[str, str],
        faults: FaultPlan | None = None,
    ) -> Account:
        registry = Registry(Store(state_dir), base_url)
        registry.load(nodes_root)
        scheduler = Scheduler(registry, RunConfig(name, base_url, nodes_root, node_env), faults)
        account = cls(name, registry, scheduler, nodes_root, node_files)
        account.recover()
        return account

    def recover(self) -> None:
        """After a restart: tasks that were running lost their process, as after a node recovery."""
        with self.registry.lock:
            for job in self.registry.jobs.values():
                for task in job.tasks.values():
                    if task.state == "running":
                        self.scheduler.requeue(task)
                        log.info("requeued task %s/%s after restart", job.id, task.id)
            for pool in self.registry.pools.values():
                for node in pool.nodes.values():
                    prepare_node_dir(node.root, self.node_files)

    def grow(self, pool: Pool, dedicated: int, low_priority: int) -> None:
        """Bring the pool's node count to the targets (adds or removes idle-first nodes)."""
        for is_dedicated, target in ((True, dedicated), (False, low_priority)):
            current = [
                n for n in pool.nodes.values() if bool(n.doc.get("isDedicated")) == is_dedicated
            ]
            index = max((int(n.doc.get("_index", 0)) for n in pool.nodes.values()), default=-1) + 1
            for _ in range(target - len(current)):
                node = new_node(
                    pool,
                    index,
                    is_dedicated,
                    self.registry.next_seq(),
                    self.nodes_root,
                    self.base_url,
                )
                index += 1
                prepare_node_dir(node.root, self.node_files)
                pool.nodes[node.id] = node
                self.registry.save_node(node)
            if target < len(current):
                # Idle nodes go first; a busy node's tasks are requeued.
                victims = sorted(current, key=lambda n: (len(n.running), -n.seq))[
                    : len(current) - target
                ]
                for node in victims:
                    for job_id, task_id in list(node.running):
                        self.scheduler.kill_task(job_id, task_id, "requeue")
                    del pool.nodes[node.id]
                    self.registry.store.delete_node(pool.id, node.id)
        pool.doc["currentDedicatedNodes"] = sum(
            1 for n in pool.nodes.values() if n.doc.get("isDedicated")
        )
        pool.doc["currentLowPriorityNodes"] = sum(
            1 for n in pool.nodes.values() if not n.doc.get("isDedicated")
        )
        self.scheduler.wake()

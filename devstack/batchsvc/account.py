"""The Batch account served: its state, its scheduler and its node settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from devstack.batchsvc import processes
from devstack.batchsvc.errors import NotFound
from devstack.batchsvc.faults import FaultPlan
from devstack.batchsvc.nodes import NodeFile, new_node, prepare_node_dir
from devstack.batchsvc.processes import RunConfig
from devstack.batchsvc.registry import Node, PoolRecord, ServiceRegistry, TaskRecord, transition
from devstack.batchsvc.scheduler import KILL_REQUEUE, KILL_TERMINATE, Scheduler
from devstack.batchsvc.store import Store
from devstack.batchsvc.timestamps import parse_duration

log = logging.getLogger(__name__)


@dataclass
class Account:
    name: str
    registry: ServiceRegistry
    scheduler: Scheduler
    nodes_root: Path
    node_files: list[NodeFile] = field(default_factory=list)

    # Evaluate autoscale formulas this often instead of each pool's interval (local speed-up).
    autoscale_every: float | None = None
    # Jobs not completed (or being deleted) the account may hold: Batch's active job quota.
    active_job_quota: int = 100

    @property
    def base_url(self) -> str:
        return self.registry.base_url

    def pool(self, pool_id: str) -> PoolRecord:
        """The pool, or PoolNotFound (call with the registry lock held)."""
        pool = self.registry.pools.get(pool_id)
        if pool is None:
            raise NotFound(
                "The specified pool does not exist.",
                code="PoolNotFound",
                values={"PoolId": pool_id},
            )
        return pool

    def autoscale_period(self, pool: PoolRecord) -> timedelta:
        if self.autoscale_every is not None:
            return timedelta(seconds=self.autoscale_every)
        return parse_duration(str(pool.doc.get("autoScaleEvaluationInterval") or "PT15M"))

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
        registry = ServiceRegistry(Store(state_dir), base_url)
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
                        self._kill_leftover(task)
                        self.scheduler.requeue(task)
                        log.info("requeued task %s/%s after restart", job.id, task.id)
            for pool in self.registry.pools.values():
                for node in list(pool.nodes.values()):
                    prepare_node_dir(node.root, self.node_files)
                    for record in (node.doc.get("_jobTasks") or {}).values():
                        # A preparation or release cut short by the stop runs again.
                        for key in [
                            k for k, info in record.items() if info.get("state") != "completed"
                        ]:
                            del record[key]
                    state = node.doc.get("state")
                    if state == "leavingpool":
                        pool.nodes.pop(node.id)
                        self.registry.store.delete_node(pool.id, node.id)
                    elif state in ("starting", "waitingforstarttask") or (
                        (node.doc.get("startTaskInfo") or {}).get("state") == "running"
                    ):
                        # The node rebooted with the service: its start task runs again.
                        self.scheduler.node_ready(pool, node)
                    elif state in ("rebooting", "reimaging"):
                        self.scheduler.node_ready(pool, node)
                    elif state in ("preempted", "running"):
                        transition(node.doc, "idle")
                self.count_nodes(pool)

    def _kill_leftover(self, task: TaskRecord) -> None:
        """A service that crashed (no SIGTERM) left the task's process group running: stop it."""
        pgid = task.doc.pop("_pgid", None)
        info = task.doc.get("nodeInfo") or {}
        if not pgid or not info:
            return
        task_dir = self.nodes_root / str(info["poolId"]) / str(info["nodeId"])
        task_dir = task_dir / str(info["taskRootDirectory"])
        if processes.is_task_process(int(pgid), task_dir):
            processes.kill_process_group(int(pgid))
            log.info("killed the leftover process group %s of task %s", pgid, task.id)

    def grow(
        self, pool: PoolRecord, dedicated: int, low_priority: int, option: str = "requeue"
    ) -> None:
        """Bring the node counts to the targets; shrinking follows the deallocation option."""
        for is_dedicated, target in ((True, dedicated), (False, low_priority)):
            current = [
                n
                for n in pool.nodes.values()
                if bool(n.doc.get("isDedicated")) == is_dedicated
                and n.doc.get("state") != "leavingpool"
            ]
            index = max((int(n.doc.get("_index", 0)) for n in pool.nodes.values()), default=-1) + 1
            for _ in range(target - len(current)):
                seq = self.registry.next_seq()
                node = new_node(pool, index, is_dedicated, seq, self.nodes_root, self.base_url)
                index += 1
                prepare_node_dir(node.root, self.node_files)
                pool.nodes[node.id] = node
                self.scheduler.node_ready(pool, node)
            if target < len(current):
                # Idle nodes leave first, then the least busy.
                ranked = sorted(current, key=lambda n: (len(n.running), -n.seq))
                for node in ranked[: len(current) - target]:
                    self.remove_node(pool, node, option)
        self.count_nodes(pool)
        self.scheduler.wake()

    def remove_node(self, pool: PoolRecord, node: Node, option: str) -> None:
        """Take a node out: `requeue`/`terminate` stop its tasks now, the others wait for them."""
        if node.running and option in ("taskcompletion", "retaineddata"):
            node.doc["schedulingState"] = "disabled"
            transition(node.doc, "leavingpool")
            self.registry.save_node(node)
            return
        reason = KILL_TERMINATE if option == "terminate" else KILL_REQUEUE
        for job_id, task_id in list(node.running):
            self.scheduler.kill_task(job_id, task_id, reason)
        self.scheduler.forget_node(node)
        pool.nodes.pop(node.id, None)
        self.registry.store.delete_node(pool.id, node.id)

    @staticmethod
    def count_nodes(pool: PoolRecord) -> None:
        nodes = list(pool.nodes.values())
        pool.doc["currentDedicatedNodes"] = sum(1 for n in nodes if n.doc.get("isDedicated"))
        pool.doc["currentLowPriorityNodes"] = sum(1 for n in nodes if not n.doc.get("isDedicated"))

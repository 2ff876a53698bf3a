"""Start tasks: the command a pool runs on each node before the node takes any task."""

from __future__ import annotations

import logging
import threading
from typing import Any

from devstack.batchsvc import downloads, processes
from devstack.batchsvc.processes import TaskPlace
from devstack.batchsvc.registry import Node, PoolRecord, transition
from devstack.batchsvc.timestamps import iso, now

log = logging.getLogger(__name__)


class StartTasks(processes.NodeTaskRunner[str]):
    """One thread per running start task; node states follow their outcome."""

    def ready(self, pool: PoolRecord, node: Node) -> None:
        """A new or rebooted node: the pool's start task runs before any task when it has one."""
        start = pool.doc.get("startTask")
        if not start:
            node.doc.pop("startTask", None)
            transition(node.doc, "idle")
            self.registry.save_node(node)
            self.wake()
            return
        node.doc["startTask"] = start
        node.doc["startTaskInfo"] = {
            "state": "running",
            "startTime": iso(now()),
            "retryCount": 0,
        }
        waits = start.get("waitForSuccess", True) is not False
        transition(node.doc, "waitingforstarttask" if waits else "idle")
        self.registry.save_node(node)
        threading.Thread(
            target=self._run,
            args=(pool.id, node, dict(start)),
            name=f"start-{node.id}",
            daemon=True,
        ).start()

    def forget(self, node: Node) -> None:
        """The node leaves: its start task, if still running, is killed."""
        process = self._processes.pop(node.id, None)
        if process is not None:
            processes.kill_group(process)
        node.doc["_removed"] = True

    def _run(self, pool_id: str, node: Node, start: dict[str, Any]) -> None:
        place = TaskPlace(
            account=self.config.account,
            account_url=self.config.account_url,
            pool_id=pool_id,
            node_id=node.id,
            node_root=node.root,
            is_dedicated=bool(node.doc.get("isDedicated", True)),
            job_id="",
            task_id="starttask",
        )
        env = processes.batch_environment(
            place, self.config.node_env, list(start.get("environmentSettings") or [])
        )
        retries = int(start.get("maxTaskRetryCount") or 0)
        attempt = 0
        while True:
            if self._stopping.is_set() or node.doc.get("_removed"):
                return
            failure: dict[str, Any] | None = None
            code: int | None = None
            try:
                downloads.fetch_all(
                    list(start.get("resourceFiles") or []), place.working_dir, place.node_root
                )
                process = processes.spawn(
                    processes.split_command_line(str(start.get("commandLine") or "")), place, env
                )
            except downloads.ResourceFileError as e:
                failure = downloads.failure_info(e)
            except (OSError, ValueError) as e:
                failure = {
                    "category": "usererror",
                    "code": "CommandProgramNotFound",
                    "message": f"The start task could not start: {e}",
                }
            else:
                with self.registry.lock:
                    self._processes[node.id] = process
                code = processes.exit_code(process.wait())
                processes.kill_group(process)
                if self._stopping.is_set():
                    return
                if code != 0:
                    failure = {
                        "category": "usererror",
                        "code": "FailureExitCode",
                        "message": "The start task exited with an unexpected exit code",
                    }
            with self.registry.lock:
                self._processes.pop(node.id, None)
                if node.doc.get("_removed"):
                    return
                info = node.doc.setdefault("startTaskInfo", {"retryCount": 0})
                next_attempt = processes.record_attempt(info, code, failure, attempt, retries)
                if next_attempt is not None:
                    attempt = next_attempt
                    continue
                if node.doc.get("state") == "waitingforstarttask":
                    transition(node.doc, "starttaskfailed" if failure else "idle")
                self.registry.save_node(node)
                log.info("start task on node %s: %s", node.id, info["result"])
            self.wake()
            return

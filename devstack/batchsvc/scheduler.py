"""Placing active tasks on free node slots, running them, and recording how they ended."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.batchsvc import processes
from devstack.batchsvc.faults import FaultPlan
from devstack.batchsvc.processes import TaskPlace
from devstack.batchsvc.registry import Job, Node, Pool, Registry, Task, transition
from devstack.batchsvc.timestamps import is_unbounded, iso, now, parse_duration, parse_iso

log = logging.getLogger(__name__)

# Why a running task was stopped by the service rather than by its own exit.
KILL_TERMINATE = "terminate"  # task or job terminated: completed with TaskEnded
KILL_DELETE = "delete"  # task or job deleted: nothing left to record
KILL_REQUEUE = "requeue"  # node lost (pool deleted, preempted): back to active


@dataclass(frozen=True)
class RunConfig:
    """What every task process gets from the service: account identity, node layout, base env."""

    account: str
    account_url: str
    nodes_root: Path
    node_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Running:
    task: Task
    node: Node
    place: TaskPlace
    attempt: int
    process: subprocess.Popen[bytes] | None = None
    kill_reason: str | None = None
    timed_out: bool = False


def _exit_code(returncode: int) -> int:
    # A signal-killed process reports what a shell would: 128 + the signal number.
    return 128 - returncode if returncode < 0 else returncode


def _max_retries(task: Task, job: Job) -> int:
    constraints = task.doc.get("constraints") or {}
    if constraints.get("maxTaskRetryCount") is not None:
        return int(constraints["maxTaskRetryCount"])
    job_constraints = job.doc.get("constraints") or {}
    return int(job_constraints.get("maxTaskRetryCount") or 0)


def _wall_clock_seconds(task: Task) -> float | None:
    text = (task.doc.get("constraints") or {}).get("maxWallClockTime")
    if not text:
        return None
    duration = parse_duration(text)
    return None if is_unbounded(duration) else duration.total_seconds()


class Scheduler:
    """One placement thread, one waiter thread per running task process."""

    def __init__(
        self, registry: Registry, config: RunConfig, faults: FaultPlan | None = None
    ) -> None:
        self.registry = registry
        self.config = config
        self.faults = faults or FaultPlan()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[tuple[str, str], Running] = {}
        self._thread = threading.Thread(target=self._loop, name="batch-scheduler", daemon=True)
        self._launcher = ThreadPoolExecutor(max_workers=8, thread_name_prefix="batch-launch")

    # lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop scheduling and kill every running task's process group (tasks stay `running`)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._launcher.shutdown(wait=True)
        with self.registry.lock:
            runs = list(self._running.values())
        for run in runs:
            if run.process is not None:
                processes.kill_group(run.process)
        for run in runs:
            if run.process is not None:
                try:
                    run.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    log.warning("task process %s did not exit after SIGKILL", run.process.pid)

    def running_count(self) -> int:
        with self.registry.lock:
            return len(self._running)

    # requests from the API (called with the registry lock held) -------------------------------

    def kill_task(self, job_id: str, task_id: str, reason: str) -> bool:
        run = self._running.get((job_id, task_id))
        if run is None:
            return False
        run.kill_reason = reason
        if run.process is not None:
            processes.kill_group(run.process)
        return True

    def kill_job(self, job_id: str, reason: str) -> None:
        for jid, tid in list(self._running):
            if jid == job_id:
                self.kill_task(jid, tid, reason)

    def kill_pool(self, pool_id: str, reason: str) -> None:
        for key, run in list(self._running.items()):
            if run.node.pool_id == pool_id:
                self.kill_task(key[0], key[1], reason)

    def job_has_running(self, job_id: str) -> bool:
        return any(jid == job_id for (jid, _) in self._running)

    def pool_has_running(self, pool_id: str) -> bool:
        return any(run.node.pool_id == pool_id for run in self._running.values())

    # the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                with self.registry.lock:
                    launches = self._place()
                # Process creation costs a few ms; several launchers keep slots busy.
                list(self._launcher.map(self._launch, launches))
                with self.registry.lock:
                    self._housekeeping()
            except Exception:
                log.exception("scheduler pass failed")

    def _usable_nodes(self, pool: Pool) -> list[Node]:
        return [
            n
            for n in pool.nodes.values()
            if n.doc.get("state") in ("idle", "running")
            and n.doc.get("schedulingState") == "enabled"
        ]

    def _place(self) -> list[Running]:
        launches: list[Running] = []
        jobs = sorted(
            (j for j in self.registry.jobs.values() if j.state == "active" and j.pending),
            key=lambda j: (-int(j.doc.get("priority") or 0), j.seq),
        )
        for job in jobs:
            pool = self.registry.pools.get(job.pool_id)
            if pool is None or pool.doc.get("state") != "active":
                continue
            nodes = self._usable_nodes(pool)
            if not nodes:
                continue
            per_node = pool.slots_per_node
            free = {n.id: per_node - n.used_slots for n in nodes}
            if sum(free.values()) <= 0:
                continue
            pack = (
                (pool.doc.get("taskSchedulingPolicy") or {}).get("nodeFillType") or "spread"
            ) == "pack"
            parallel = job.doc.get("maxParallelTasks")
            max_parallel = -1 if parallel is None else int(parallel)
            running_in_job = sum(1 for (jid, _) in self._running if jid == job.id)
            for task_id in list(job.pending):
                if max_parallel >= 0 and running_in_job >= max_parallel:
                    break
                task = job.tasks.get(task_id)
                if task is None or task.state != "active":
                    job.pending.pop(task_id, None)
                    continue
                if not self._dependencies_met(job, task):
                    continue
                node = self._choose(nodes, free, task.slots, pack)
                if node is None:
                    if max(free.values()) <= 0:
                        break
                    continue
                free[node.id] -= task.slots
                running_in_job += 1
                launches.append(self._start(job, pool, node, task))
        return launches

    @staticmethod
    def _choose(nodes: list[Node], free: dict[str, int], slots: int, pack: bool) -> Node | None:
        fits = [n for n in nodes if free[n.id] >= slots]
        if not fits:
            return None
        if pack:
            return fits[0]
        return max(fits, key=lambda n: free[n.id])

    def _dependencies_met(self, job: Job, task: Task) -> bool:
        depends = task.doc.get("dependsOn")
        if not depends:
            return True
        ids: list[str] = list(depends.get("taskIds") or [])
        for span in depends.get("taskIdRanges") or []:
            ids.extend(str(i) for i in range(int(span["start"]), int(span["end"]) + 1))
        for dep_id in ids:
            dep = job.tasks.get(dep_id)
            if dep is None or dep.state != "completed":
                return False
            info = dep.doc.get("executionInfo") or {}
            if info.get("result") != "success" and dep.doc.get("_dependencyAction") != "satisfy":
                return False
        return True

    def _start(self, job: Job, pool: Pool, node: Node, task: Task) -> Running:
        job.pending.pop(task.id, None)
        attempt = int(task.doc.get("_attempt") or 0) + 1
        task.doc["_attempt"] = attempt
        info = task.doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        for key in ("endTime", "exitCode", "result", "failureInfo"):
            info.pop(key, None)
        info["startTime"] = iso(now())
        place = TaskPlace(
            account=self.config.account,
            account_url=self.config.account_url,
            pool_id=pool.id,
            node_id=node.id,
            node_root=node.root,
            is_dedicated=bool(node.doc.get("isDedicated", True)),
            job_id=job.id,
            task_id=task.id,
        )
        task.doc["nodeInfo"] = {
            "affinityId": node.doc.get("affinityId"),
            "nodeUrl": node.doc.get("url"),
            "poolId": pool.id,
            "nodeId": node.id,
            "taskRootDirectory": place.relative_task_dir,
            "taskRootDirectoryUrl": f"{node.doc.get('url')}/files/{place.relative_task_dir}",
        }
        transition(task.doc, "running")
        self.registry.save_task(task)
        node.running[(job.id, task.id)] = task.slots
        node.doc["totalTasksRun"] = int(node.doc.get("totalTasksRun") or 0) + 1
        run = Running(task=task, node=node, place=place, attempt=attempt)
        self._running[(job.id, task.id)] = run
        return run

    def _launch(self, run: Running) -> None:
        if self._stopping.is_set():
            return  # stays `running` in the store; requeued when the service starts again
        job = self.registry.jobs.get(run.task.job_id)
        env_settings: list[dict[str, str]] = []
        if job is not None:
            env_settings.extend(job.doc.get("commonEnvironmentSettings") or [])
        env_settings.extend(run.task.doc.get("environmentSettings") or [])
        env = processes.batch_environment(run.place, self.config.node_env, env_settings)
        try:
            args = processes.split_command_line(str(run.task.doc.get("commandLine") or ""))
            if not args:
                raise ValueError("the command line is empty")
            process = processes.spawn(args, run.place, env)
        except (OSError, ValueError) as e:
            log.info("task %s/%s could not start: %s", run.task.job_id, run.task.id, e)
            with self.registry.lock:
                self._finish_unstarted(run, e)
            self.wake()
            return
        with self.registry.lock:
            run.process = process
            if run.kill_reason is not None:
                processes.kill_group(process)
        threading.Thread(
            target=self._wait, args=(run,), name=f"task-{run.task.id}", daemon=True
        ).start()
        rule = self.faults.draw(("preempt",), f"{run.task.job_id}/{run.task.id}")
        if rule is not None:
            timer = threading.Timer(rule.after_ms / 1000, self._preempt_run, args=(run,))
            timer.daemon = True
            timer.start()

    def _preempt_run(self, run: Running) -> None:
        with self.registry.lock:
            if self._running.get((run.task.job_id, run.task.id)) is run:
                self.preempt_node(run.node)

    def preempt_node(self, node: Node, downtime: float = 1.0) -> list[str]:
        """Take the node away as a spot eviction does: its tasks are requeued (lock held)."""
        killed = []
        for job_id, task_id in list(node.running):
            if self.kill_task(job_id, task_id, KILL_REQUEUE):
                killed.append(f"{job_id}/{task_id}")
        transition(node.doc, "preempted")
        log.info("node %s preempted; requeued %s", node.id, killed)

        def back() -> None:
            with self.registry.lock:
                if node.doc.get("state") == "preempted":
                    transition(node.doc, "idle")
            self.wake()

        timer = threading.Timer(downtime, back)
        timer.daemon = True
        timer.start()
        return killed

    def _wait(self, run: Running) -> None:
        assert run.process is not None
        limit = _wall_clock_seconds(run.task)
        try:
            returncode = run.process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            processes.kill_group(run.process)
            returncode = run.process.wait()
        # Leftover children of the task (same process group) do not outlive it here.
        processes.kill_group(run.process)
        if self._stopping.is_set():
            return
        with self.registry.lock:
            self._finish(run, returncode)
        self.wake()

    # completion (registry lock held) --------------------------------------------------------

    def _release(self, run: Running) -> bool:
        """Free the slots; False when the task is gone or has moved on to another attempt."""
        key = (run.task.job_id, run.task.id)
        if self._running.get(key) is run:
            del self._running[key]
        run.node.running.pop(key, None)
        job = self.registry.jobs.get(run.task.job_id)
        current = job.tasks.get(run.task.id) if job is not None else None
        return current is run.task and int(run.task.doc.get("_attempt") or 0) == run.attempt

    def _finish_unstarted(self, run: Running, error: Exception) -> None:
        if not self._release(run):
            return
        missing = isinstance(error, FileNotFoundError)
        failure = {
            "category": "usererror",
            "code": "CommandProgramNotFound" if missing else "TaskFailedToStart",
            "message": (
                "The specified command program is not found"
                if missing
                else "The task failed to start"
            ),
            "details": [{"name": "Message", "value": str(error)}],
        }
        self._complete_or_retry(run, exit_code=None, failure=failure)

    def _finish(self, run: Running, returncode: int) -> None:
        if not self._release(run):
            return
        if run.kill_reason == KILL_DELETE:
            return
        if run.kill_reason == KILL_REQUEUE:
            self.requeue(run.task)
            return
        code = _exit_code(returncode)
        failure: dict[str, Any]
        if run.kill_reason == KILL_TERMINATE:
            failure = {
                "category": "usererror",
                "code": "TaskEnded",
                "message": "Task Was Ended by User Request",
            }
            self._complete(run.task, code, failure)
            return
        if run.timed_out:
            failure = {
                "category": "usererror",
                "code": "MaxWallClockTimeExceeded",
                "message": "The task exceeded its maxWallClockTime constraint and was terminated",
            }
            self._complete(run.task, code, failure)
            return
        if code == 0:
            run.node.doc["totalTasksSucceeded"] = (
                int(run.node.doc.get("totalTasksSucceeded") or 0) + 1
            )
            self._complete(run.task, 0, None)
            return
        failure = {
            "category": "usererror",
            "code": "FailureExitCode",
            "message": "The task process exited with an unexpected exit code",
            "details": [
                {
                    "name": "Message",
                    "value": f"The task process exited with an unexpected exit code: {code}",
                }
            ],
        }
        self._complete_or_retry(run, exit_code=code, failure=failure)

    def _complete_or_retry(
        self, run: Running, exit_code: int | None, failure: dict[str, Any]
    ) -> None:
        task = run.task
        job = self.registry.jobs[task.job_id]
        info = task.doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        limit = _max_retries(task, job)
        if limit == -1 or int(info.get("retryCount") or 0) < limit:
            info["retryCount"] = int(info.get("retryCount") or 0) + 1
            info["lastRetryTime"] = iso(now())
            transition(task.doc, "active")
            job.pending[task.id] = None
            self.registry.save_task(task)
            return
        self._complete(task, exit_code, failure)

    def _complete(self, task: Task, exit_code: int | None, failure: dict[str, Any] | None) -> None:
        info = task.doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        info["endTime"] = iso(now())
        if exit_code is not None:
            info["exitCode"] = exit_code
        else:
            info.pop("exitCode", None)
        info["result"] = "failure" if failure else "success"
        if failure:
            info["failureInfo"] = failure
        else:
            info.pop("failureInfo", None)
        transition(task.doc, "completed")
        self.registry.save_task(task)
        log.debug("task %s/%s completed exit=%s", task.job_id, task.id, exit_code)

    def requeue(self, task: Task) -> None:
        """Back to active after losing its node, as Batch does on node recovery or preemption."""
        job = self.registry.jobs.get(task.job_id)
        if job is None:
            return
        info = task.doc.setdefault("executionInfo", {"retryCount": 0, "requeueCount": 0})
        info["requeueCount"] = int(info.get("requeueCount") or 0) + 1
        info["lastRequeueTime"] = iso(now())
        transition(task.doc, "active")
        job.pending[task.id] = None
        self.registry.save_task(task)

    # housekeeping (registry lock held) ------------------------------------------------------

    def _housekeeping(self) -> None:
        for job in list(self.registry.jobs.values()):
            state = job.state
            if state == "active":
                self._check_job_limits(job)
            elif state == "terminating" and not self.job_has_running(job.id):
                info = job.doc.setdefault(
                    "executionInfo", {"startTime": job.doc.get("creationTime")}
                )
                info["endTime"] = iso(now())
                transition(job.doc, "completed")
                self.registry.save_job(job)
            elif state == "deleting" and not self.job_has_running(job.id):
                self._remove_job(job)
        for pool in list(self.registry.pools.values()):
            if pool.doc.get("state") == "deleting" and not self.pool_has_running(pool.id):
                self._remove_pool(pool)

    def _check_job_limits(self, job: Job) -> None:
        limit = (job.doc.get("constraints") or {}).get("maxWallClockTime")
        if limit:
            duration = parse_duration(limit)
            created = parse_iso(str(job.doc.get("creationTime")))
            if not is_unbounded(duration) and now() - created > duration:
                self.terminate_job(job, "MaxWallClockTimeExpiry")
                return
        if (
            job.doc.get("onAllTasksComplete") == "terminatejob"
            and job.tasks
            and all(t.state == "completed" for t in job.tasks.values())
        ):
            self.terminate_job(job, "AllTasksComplete")

    def terminate_job(self, job: Job, reason: str) -> None:
        info = job.doc.setdefault("executionInfo", {"startTime": job.doc.get("creationTime")})
        info["terminateReason"] = reason
        transition(job.doc, "terminating")
        self.registry.save_job(job)
        self.kill_job(job.id, KILL_TERMINATE)
        self.wake()

    def _remove_job(self, job: Job) -> None:
        self.registry.jobs.pop(job.id, None)
        self.registry.store.delete_job(job.id)
        for pool in self.registry.pools.values():
            for node in pool.nodes.values():
                shutil.rmtree(node.root / "workitems" / job.id, ignore_errors=True)
        log.info("job %s deleted", job.id)

    def _remove_pool(self, pool: Pool) -> None:
        self.registry.pools.pop(pool.id, None)
        self.registry.store.delete_pool(pool.id)
        shutil.rmtree(self.config.nodes_root / pool.id, ignore_errors=True)
        log.info("pool %s deleted", pool.id)


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass (for shutdown paths)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

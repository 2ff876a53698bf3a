"""Placing active tasks on free node slots, running them, and recording how they ended."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from devstack.batchsvc import downloads, exitconditions, placement, processes, uploads
from devstack.batchsvc.faults import FaultPlan
from devstack.batchsvc.jobtasks import JobTasks
from devstack.batchsvc.processes import RunConfig, TaskPlace
from devstack.batchsvc.registry import (
    Job,
    Node,
    PoolRecord,
    ServiceRegistry,
    TaskRecord,
    transition,
)
from devstack.batchsvc.starttasks import StartTasks
from devstack.batchsvc.timestamps import is_unbounded, iso, now, parse_duration, parse_iso

log = logging.getLogger(__name__)

# Why a running task was stopped by the service rather than by its own exit.
KILL_TERMINATE = "terminate"  # task or job terminated: completed with TaskEnded
KILL_DELETE = "delete"  # task or job deleted: nothing left to record
KILL_REQUEUE = "requeue"  # node lost (pool deleted, preempted): back to active
KILL_SHUTDOWN = "shutdown"  # the service stops: left `running`, requeued at the next start


@dataclass
class Running:
    task: TaskRecord
    node: Node
    place: TaskPlace
    attempt: int
    process: subprocess.Popen[bytes] | None = None
    kill_reason: str | None = None
    timed_out: bool = False
    upload_errors: list[str] = field(default_factory=list)
    waiter: threading.Thread | None = None


def _start_failure(error: Exception) -> dict[str, Any]:
    missing = isinstance(error, FileNotFoundError)
    return {
        "category": "usererror",
        "code": "CommandProgramNotFound" if missing else "TaskFailedToStart",
        "message": "The specified command program is not found"
        if missing
        else "The task failed to start",
        "details": [{"name": "Message", "value": str(error)}],
    }


def _max_retries(task: TaskRecord, job: Job) -> int:
    constraints = task.doc.get("constraints") or {}
    if constraints.get("maxTaskRetryCount") is not None:
        return int(constraints["maxTaskRetryCount"])
    job_constraints = job.doc.get("constraints") or {}
    return int(job_constraints.get("maxTaskRetryCount") or 0)


def _wall_clock_seconds(task: TaskRecord) -> float | None:
    text = (task.doc.get("constraints") or {}).get("maxWallClockTime")
    if not text:
        return None
    duration = parse_duration(text)
    return None if is_unbounded(duration) else duration.total_seconds()


class Scheduler:
    """One placement thread, one waiter thread per running task process."""

    def __init__(
        self, registry: ServiceRegistry, config: RunConfig, faults: FaultPlan | None = None
    ) -> None:
        self.registry = registry
        self.config = config
        self.faults = faults or FaultPlan()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[tuple[str, str], Running] = {}
        self.start_tasks = StartTasks(registry, config, self._stopping, self.wake)
        self.job_tasks = JobTasks(registry, config, self._stopping, self.wake)
        self._next_cleanup = 0.0
        # Callables run by every scheduler pass with the registry lock held (autoscale).
        self.periodic: list[Callable[[], None]] = []
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
                run.kill_reason = KILL_SHUTDOWN
        self.start_tasks.kill_all()
        self.job_tasks.kill_all()
        for run in runs:
            if run.process is not None:
                processes.kill_group(run.process)
        # Tasks that ended on their own before the kill are recorded by their waiters first.
        for run in runs:
            if run.waiter is not None:
                run.waiter.join(timeout=10)

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

    def _place(self) -> list[Running]:
        running_per_job: dict[str, int] = {}
        for job_id, _ in self._running:
            running_per_job[job_id] = running_per_job.get(job_id, 0) + 1
        choices = placement.choose(self.registry, running_per_job, self.job_tasks.node_ready_for)
        return [self._start(job, pool, node, task) for job, pool, node, task in choices]

    def _start(self, job: Job, pool: PoolRecord, node: Node, task: TaskRecord) -> Running:
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
        if job is not None and job.doc.get("jobPreparationTask"):
            prep_dir = run.node.root / "workitems" / job.id / "job-1" / "jobpreparation"
            env["AZ_BATCH_JOB_PREP_DIR"] = str(prep_dir)
            env["AZ_BATCH_JOB_PREP_WORKING_DIR"] = str(prep_dir / "wd")
        notes = []
        container = run.task.doc.get("containerSettings")
        if container:
            notes.append(
                f"devstack: containerSettings (image {container.get('imageName')!r}) ignored; "
                "there is no container runtime here, the command runs directly on the host\n"
            )
        identity = run.task.doc.get("userIdentity") or {}
        auto_user = identity.get("autoUser") or {}
        if identity.get("username") or auto_user.get("elevationLevel") == "admin":
            notes.append(
                "devstack: userIdentity accepted but not applied; the task runs as the "
                "service's own user\n"
            )
        try:
            downloads.fetch_all(
                list(run.task.doc.get("resourceFiles") or []),
                run.place.working_dir,
                run.place.node_root,
            )
        except downloads.ResourceFileError as e:
            log.info("task %s/%s resource files failed: %s", run.task.job_id, run.task.id, e)
            with self.registry.lock:
                self._finish_unstarted(run, downloads.failure_info(e))
            self.wake()
            return
        try:
            args = processes.split_command_line(str(run.task.doc.get("commandLine") or ""))
            if not args:
                raise ValueError("the command line is empty")
            process = processes.spawn(args, run.place, env, "".join(notes))
        except (OSError, ValueError) as e:
            log.info("task %s/%s could not start: %s", run.task.job_id, run.task.id, e)
            with self.registry.lock:
                self._finish_unstarted(run, _start_failure(e))
            self.wake()
            return
        with self.registry.lock:
            run.process = process
            # Remembered so that a restart after a crash can stop what this run left behind.
            run.task.doc["_pgid"] = process.pid
            self.registry.save_task(run.task)
            if run.kill_reason is not None:
                processes.kill_group(process)
        run.waiter = threading.Thread(
            target=self._wait, args=(run,), name=f"task-{run.task.id}", daemon=True
        )
        run.waiter.start()
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
        if run.kill_reason == KILL_SHUTDOWN:
            return
        outputs = list(run.task.doc.get("outputFiles") or [])
        if outputs and run.kill_reason not in (KILL_DELETE, KILL_REQUEUE):
            succeeded = returncode == 0 and not run.timed_out and run.kill_reason is None
            report = uploads.upload_all(
                outputs, run.place.working_dir, succeeded, run.place.node_root
            )
            uploads.write_logs(run.place.task_dir, report)
            if report.failed:
                run.upload_errors = report.errors
        with self.registry.lock:
            self._finish(run, returncode)
        self.wake()

    # nodes (registry lock held) -----------------------------------------------------------

    def node_ready(self, pool: PoolRecord, node: Node) -> None:
        """A new or rebooted node: idle at once, or after the pool's start task."""
        self.start_tasks.ready(pool, node)

    def restart_node_later(self, pool: PoolRecord, node: Node, downtime: float = 0.5) -> None:
        """After a reboot or reimage the node comes back and runs its start task again."""

        def back() -> None:
            with self.registry.lock:
                if node.doc.get("state") in ("rebooting", "reimaging") and node.id in pool.nodes:
                    node.doc["lastBootTime"] = iso(now())
                    self.node_ready(pool, node)

        timer = threading.Timer(downtime, back)
        timer.daemon = True
        timer.start()

    def forget_node(self, node: Node) -> None:
        """The node leaves: its start task, if still running, is killed."""
        self.start_tasks.forget(node)

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

    def _finish_unstarted(self, run: Running, failure: dict[str, Any]) -> None:
        if not self._release(run):
            return
        self._complete_or_retry(run, None, failure, exitconditions.PRE_PROCESSING)

    def _finish(self, run: Running, returncode: int) -> None:
        if not self._release(run):
            return
        if run.kill_reason in (KILL_DELETE, KILL_SHUTDOWN):
            return
        if run.kill_reason == KILL_REQUEUE:
            self.requeue(run.task)
            return
        code = processes.exit_code(returncode)
        failure: dict[str, Any]
        if run.kill_reason == KILL_TERMINATE:
            failure = {
                "category": "usererror",
                "code": "TaskEnded",
                "message": "Task Was Ended by User Request",
            }
            self._complete(run.task, code, failure, exitconditions.EXIT)
            return
        if run.timed_out:
            failure = {
                "category": "usererror",
                "code": "MaxWallClockTimeExceeded",
                "message": "The task exceeded its maxWallClockTime constraint and was terminated",
            }
            self._complete(run.task, code, failure, exitconditions.EXIT)
            return
        if run.upload_errors:
            failure = uploads.failure_info(run.upload_errors)
            self._complete_or_retry(run, code, failure, exitconditions.FILE_UPLOAD)
            return
        if code == 0:
            succeeded = int(run.node.doc.get("totalTasksSucceeded") or 0) + 1
            run.node.doc["totalTasksSucceeded"] = succeeded
            self._complete(run.task, 0, None, exitconditions.EXIT)
            return
        failure = {
            "category": "usererror",
            "code": "FailureExitCode",
            "message": "The task process exited with an unexpected exit code",
            "details": [{"name": "Message", "value": f"exit code {code}"}],
        }
        self._complete_or_retry(run, code, failure, exitconditions.EXIT)

    def _complete_or_retry(
        self, run: Running, exit_code: int | None, failure: dict[str, Any], kind: str
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
        self._complete(task, exit_code, failure, kind)

    def _complete(
        self, task: TaskRecord, exit_code: int | None, failure: dict[str, Any] | None, kind: str
    ) -> None:
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
        options = exitconditions.exit_options(task.doc.get("exitConditions"), kind, exit_code)
        if failure is not None and kind == exitconditions.EXIT and exit_code == 0:
            options["dependencyAction"] = "block"  # ended by terminate or timeout
        task.doc["_dependencyAction"] = options["dependencyAction"]
        retention = parse_duration(
            str((task.doc.get("constraints") or {}).get("retentionTime") or "P7D")
        )
        if not is_unbounded(retention):
            # iso() has one fixed format, so these strings compare in time order.
            task.doc["_filesExpire"] = iso(now() + retention)
        transition(task.doc, "completed")
        self.registry.save_task(task)
        log.debug("task %s/%s completed exit=%s", task.job_id, task.id, exit_code)
        job = self.registry.jobs.get(task.job_id)
        if job is None or job.state != "active":
            return
        if job.doc.get("onTaskFailure") == "performexitoptionsjobaction":
            if options["jobAction"] == "terminate":
                self.terminate_job(job, "TaskFailed")
            elif options["jobAction"] == "disable":
                transition(job.doc, "disabled")
                self.registry.save_job(job)

    def requeue(self, task: TaskRecord) -> None:
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
        for task in list(self.periodic):
            task()
        if time.monotonic() >= self._next_cleanup:
            self._next_cleanup = time.monotonic() + 1.0
            self._clean_expired_task_dirs()
        for pool in self.registry.pools.values():
            self._drop_nodes_that_left(pool)
        for job in list(self.registry.jobs.values()):
            self._advance_job(job)
        for pool in list(self.registry.pools.values()):
            if pool.doc.get("state") == "deleting" and not self.pool_has_running(pool.id):
                self._remove_pool(pool)

    def _drop_nodes_that_left(self, pool: PoolRecord) -> None:
        for node in list(pool.nodes.values()):
            if node.doc.get("state") == "leavingpool" and not node.running:
                self.forget_node(node)
                pool.nodes.pop(node.id, None)
                self.registry.store.delete_node(pool.id, node.id)
                pool.doc["currentDedicatedNodes"] = sum(
                    1 for n in pool.nodes.values() if n.doc.get("isDedicated")
                )
                pool.doc["currentLowPriorityNodes"] = sum(
                    1 for n in pool.nodes.values() if not n.doc.get("isDedicated")
                )

    def _advance_job(self, job: Job) -> None:
        """An active job is held to its limits; a job in a passing state (disabling, enabling,
        terminating, deleting) moves on once it may."""
        state = job.state
        if state == "active":
            self._check_job_limits(job)
        elif state == "disabling" and not self.job_has_running(job.id):
            # Disabled once its running tasks are gone: finished (wait), or killed and
            # requeued or terminated — the job is `disabling` until then, as in Batch.
            transition(job.doc, "disabled")
            self.registry.save_job(job)
        elif state == "enabling":
            transition(job.doc, "active")
            self.registry.save_job(job)
        elif state == "terminating" and self._job_drained(job):
            info = job.doc.setdefault("executionInfo", {"startTime": job.doc.get("creationTime")})
            info["endTime"] = iso(now())
            transition(job.doc, "completed")
            self.registry.save_job(job)
        elif state == "deleting" and self._job_drained(job):
            self._remove_job(job)

    def _job_drained(self, job: Job) -> bool:
        return not self.job_has_running(job.id) and self.job_tasks.releases_done(job)

    def _clean_expired_task_dirs(self) -> None:
        """A completed task's directory is removed once its retentionTime has passed."""
        moment = iso(now())
        for job in self.registry.jobs.values():
            for task in job.tasks.values():
                expires = task.doc.get("_filesExpire")
                if not expires or expires > moment or task.state != "completed":
                    continue
                info = task.doc.get("nodeInfo") or {}
                pool = self.registry.pools.get(str(info.get("poolId") or ""))
                node = pool.nodes.get(str(info.get("nodeId") or "")) if pool else None
                if node is not None:
                    shutil.rmtree(node.root / str(info["taskRootDirectory"]), ignore_errors=True)
                del task.doc["_filesExpire"]
                task.doc["_filesCleaned"] = True
                self.registry.save_task(task)

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

    def _remove_pool(self, pool: PoolRecord) -> None:
        for node in pool.nodes.values():
            self.forget_node(node)
        self.registry.pools.pop(pool.id, None)
        self.registry.store.delete_pool(pool.id)
        shutil.rmtree(self.config.nodes_root / pool.id, ignore_errors=True)
        log.info("pool %s deleted", pool.id)

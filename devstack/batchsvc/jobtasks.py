"""Job preparation and release tasks: run on a node before the job's first task there, and
on each such node when the job ends."""

from __future__ import annotations

import logging
import subprocess
import threading
from typing import Any

from devstack.batchsvc import downloads, processes
from devstack.batchsvc.processes import RunConfig, TaskPlace
from devstack.batchsvc.registry import Job, Node, PoolRecord
from devstack.batchsvc.timestamps import is_unbounded, iso, now, parse_duration

log = logging.getLogger(__name__)

PREPARATION = "jobpreparation"
RELEASE = "jobrelease"
_INFO_KEY = {PREPARATION: "jobPreparationTaskExecutionInfo", RELEASE: "jobReleaseTaskExecutionInfo"}


def place(config: RunConfig, job_id: str, pool_id: str, node: Node, kind: str) -> TaskPlace:
    return TaskPlace(
        account=config.account,
        account_url=config.account_url,
        pool_id=pool_id,
        node_id=node.id,
        node_root=node.root,
        is_dedicated=bool(node.doc.get("isDedicated", True)),
        job_id=job_id,
        task_id=kind,
    )


def status(node: Node, job_id: str) -> dict[str, Any]:
    """This node's record for the job: the two execution infos (internal, kept on the node)."""
    records: dict[str, dict[str, Any]] = node.doc.setdefault("_jobTasks", {})
    return records.setdefault(job_id, {})


class JobTasks(processes.NodeTaskRunner[tuple[str, str, str]]):
    """One thread per running preparation or release task."""

    def node_ready_for(self, job: Job, pool: PoolRecord, node: Node) -> bool:
        """True when the job's tasks may run on the node; starts its preparation if needed."""
        spec = job.doc.get("jobPreparationTask")
        if not spec:
            return True
        info = status(node, job.id).get(_INFO_KEY[PREPARATION])
        if info is None:
            self._begin(job, pool, node, PREPARATION, spec)
            return False
        if info.get("state") != "completed":
            return False
        waits = spec.get("waitForSuccess", True) is not False
        return info.get("result") == "success" or not waits

    def releases_done(self, job: Job) -> bool:
        """Start the release task on every node that prepared for the job; True once all ended."""
        spec = job.doc.get("jobReleaseTask")
        if not spec:
            return True
        done = True
        for pool in self.registry.pools.values():
            for node in pool.nodes.values():
                record = status(node, job.id)
                if _INFO_KEY[PREPARATION] not in record:
                    continue
                release = record.get(_INFO_KEY[RELEASE])
                if release is None:
                    self._begin(job, pool, node, RELEASE, spec)
                    done = False
                elif release.get("state") != "completed":
                    done = False
        return done

    def statuses(self, job_id: str) -> list[dict[str, Any]]:
        """The job's ListJobPreparationAndReleaseTaskStatus entries (lock held)."""
        out: list[dict[str, Any]] = []
        for pool in self.registry.pools.values():
            for node in pool.nodes.values():
                record = (node.doc.get("_jobTasks") or {}).get(job_id)
                if not record:
                    continue
                entry = {"poolId": pool.id, "nodeId": node.id, "nodeUrl": node.doc.get("url")}
                entry.update({k: dict(v) for k, v in record.items()})
                out.append(entry)
        return out

    def _begin(
        self, job: Job, pool: PoolRecord, node: Node, kind: str, spec: dict[str, Any]
    ) -> None:
        where = place(self.config, job.id, pool.id, node, kind)
        status(node, job.id)[_INFO_KEY[kind]] = {
            "startTime": iso(now()),
            "state": "running",
            "taskRootDirectory": where.relative_task_dir,
            "taskRootDirectoryUrl": f"{node.doc.get('url')}/files/{where.relative_task_dir}",
            "retryCount": 0,
        }
        if kind == RELEASE:
            status(node, job.id)[_INFO_KEY[kind]].pop("retryCount")
        self.registry.save_node(node)
        env_settings = list(job.doc.get("commonEnvironmentSettings") or [])
        env_settings += list(spec.get("environmentSettings") or [])
        threading.Thread(
            target=self._run,
            args=(job.id, node, kind, dict(spec), where, env_settings),
            name=f"{kind}-{job.id}-{node.id}",
            daemon=True,
        ).start()

    def _run(
        self,
        job_id: str,
        node: Node,
        kind: str,
        spec: dict[str, Any],
        where: TaskPlace,
        env_settings: list[dict[str, str]],
    ) -> None:
        env = processes.batch_environment(where, self.config.node_env, env_settings)
        constraints = spec.get("constraints") or {}
        limit_text = spec.get("maxWallClockTime") or constraints.get("maxWallClockTime")
        limit = None
        if limit_text and not is_unbounded(parse_duration(str(limit_text))):
            limit = parse_duration(str(limit_text)).total_seconds()
        retries = int(constraints.get("maxTaskRetryCount") or 0) if kind == PREPARATION else 0
        attempt = 0
        key = (job_id, node.id, kind)
        while not self._stopping.is_set():
            failure: dict[str, Any] | None = None
            code: int | None = None
            try:
                downloads.fetch_all(
                    list(spec.get("resourceFiles") or []), where.working_dir, where.node_root
                )
                args = processes.split_command_line(str(spec.get("commandLine") or ""))
                process = processes.spawn(args, where, env)
            except downloads.ResourceFileError as e:
                failure = downloads.failure_info(e)
            except (OSError, ValueError) as e:
                failure = {
                    "category": "usererror",
                    "code": "CommandProgramNotFound",
                    "message": f"The {kind} task could not start: {e}",
                }
            else:
                with self.registry.lock:
                    self._processes[key] = process
                try:
                    code = processes.exit_code(process.wait(timeout=limit))
                except subprocess.TimeoutExpired:
                    processes.kill_group(process)
                    code = processes.exit_code(process.wait())
                    failure = {
                        "category": "usererror",
                        "code": "MaxWallClockTimeExceeded",
                        "message": f"The {kind} task exceeded its maxWallClockTime",
                    }
                processes.kill_group(process)
                if self._stopping.is_set():
                    return
                if code != 0 and failure is None:
                    failure = {
                        "category": "usererror",
                        "code": "FailureExitCode",
                        "message": f"The {kind} task exited with an unexpected exit code",
                    }
            with self.registry.lock:
                self._processes.pop(key, None)
                info = status(node, job_id)[_INFO_KEY[kind]]
                next_attempt = processes.record_attempt(info, code, failure, attempt, retries)
                if next_attempt is not None:
                    attempt = next_attempt
                    continue
                self.registry.save_node(node)
                log.info("%s task of job %s on node %s: %s", kind, job_id, node.id, info["result"])
            self.wake()
            return

"""Task processes: the command line, environment and directories Batch gives a task on Linux."""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from devstack.batchsvc.timestamps import iso, now

if TYPE_CHECKING:
    from devstack.batchsvc.registry import ServiceRegistry

K = TypeVar("K")

log = logging.getLogger(__name__)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TASK_USER = "_azbatch"


@dataclass(frozen=True)
class TaskPlace:
    """Where a task runs: its node and its directories (Batch's node layout)."""

    account: str
    account_url: str
    pool_id: str
    node_id: str
    node_root: Path
    is_dedicated: bool
    job_id: str
    task_id: str

    @property
    def is_start_task(self) -> bool:
        return not self.job_id

    @property
    def task_dir(self) -> Path:
        return self.node_root / self.relative_task_dir

    @property
    def working_dir(self) -> Path:
        return self.task_dir / "wd"

    @property
    def relative_task_dir(self) -> str:
        if self.is_start_task:
            return "startup"
        return f"workitems/{self.job_id}/job-1/{self.task_id}"


@dataclass(frozen=True)
class RunConfig:
    """What every task process gets from the service: account identity, node layout, base env."""

    account: str
    account_url: str
    nodes_root: Path
    node_env: Mapping[str, str] = field(default_factory=dict)


def exit_code(returncode: int) -> int:
    """A signal-killed process reports what a shell would: 128 + the signal number."""
    return 128 - returncode if returncode < 0 else returncode


def batch_environment(
    place: TaskPlace,
    node_env: Mapping[str, str],
    settings: list[dict[str, str]],
) -> dict[str, str]:
    """Only what Batch sets, never this service's own environment (no secret leaks)."""
    env = {
        "PATH": DEFAULT_PATH,
        "HOME": str(place.node_root / "home"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "USER": TASK_USER,
        "LOGNAME": TASK_USER,
        "SHELL": "/bin/sh",
    }
    env.update(node_env)
    env.update(
        {
            "AZ_BATCH_ACCOUNT_NAME": place.account,
            "AZ_BATCH_ACCOUNT_URL": place.account_url,
            "AZ_BATCH_POOL_ID": place.pool_id,
            "AZ_BATCH_NODE_ID": place.node_id,
            "AZ_BATCH_NODE_IS_DEDICATED": "true" if place.is_dedicated else "false",
            "AZ_BATCH_NODE_ROOT_DIR": str(place.node_root),
            "AZ_BATCH_NODE_SHARED_DIR": str(place.node_root / "shared"),
            "AZ_BATCH_NODE_STARTUP_DIR": str(place.node_root / "startup"),
            "AZ_BATCH_NODE_MOUNTS_DIR": str(place.node_root / "fsmounts"),
            **({} if place.is_start_task else {"AZ_BATCH_JOB_ID": place.job_id}),
            "AZ_BATCH_TASK_ID": place.task_id,
            "AZ_BATCH_TASK_DIR": str(place.task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(place.working_dir),
            "AZ_BATCH_TASK_USER": TASK_USER,
            "AZ_BATCH_TASK_USER_IDENTITY": "PoolNonAdmin",
        }
    )
    for item in settings:
        env[str(item["name"])] = str(item.get("value") or "")
    return env


def split_command_line(command_line: str) -> list[str]:
    """Word splitting as Batch does on Linux: quotes respected, no shell features."""
    return shlex.split(command_line)


def spawn(
    args: list[str], place: TaskPlace, env: dict[str, str], stderr_note: str = ""
) -> subprocess.Popen[bytes]:
    """Start the task in its own process group with stdout.txt / stderr.txt in the task dir."""
    place.working_dir.mkdir(parents=True, exist_ok=True)
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    with (
        open(place.task_dir / "stdout.txt", "wb") as out,
        open(place.task_dir / "stderr.txt", "wb") as err,
    ):
        if stderr_note:
            err.write(stderr_note.encode("utf-8"))
            err.flush()
        return subprocess.Popen(
            args,
            cwd=place.working_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            close_fds=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the task's whole process tree (its process group), as Batch does."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def is_task_process(pid: int, task_dir: Path) -> bool:
    """Whether `pid` is still the process this service started for the task in `task_dir`.

    Checked through its environment, so that a reused pid is never mistaken for the task.
    """
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"AZ_BATCH_TASK_DIR={task_dir}".encode() in environ.split(b"\0")


def kill_process_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def record_attempt(
    info: dict[str, Any],
    code: int | None,
    failure: dict[str, Any] | None,
    attempt: int,
    retries: int,
) -> int | None:
    """Record in `info` (a start, preparation or release task's execution info) an attempt
    that ended. Returns the next attempt's number when the task should run again (it failed
    and retries are left; -1 retries means no limit), else None once it is completed."""
    if failure is not None and (retries == -1 or attempt < retries):
        info["retryCount"] = attempt + 1
        info["lastRetryTime"] = iso(now())
        return attempt + 1
    info["state"] = "completed"
    info["endTime"] = iso(now())
    if code is not None:
        info["exitCode"] = code
    info["result"] = "failure" if failure else "success"
    if failure:
        info["failureInfo"] = failure
    return None


class NodeTaskRunner(Generic[K]):
    """Shared by the runners of node-level tasks (start, preparation and release): the
    registry, the run configuration, and the processes running now by key, killed together."""

    def __init__(
        self,
        registry: ServiceRegistry,
        config: RunConfig,
        stopping: threading.Event,
        wake: Callable[[], None],
    ) -> None:
        self.registry = registry
        self.config = config
        self._stopping = stopping
        self.wake = wake
        self._processes: dict[K, subprocess.Popen[bytes]] = {}

    def kill_all(self) -> None:
        with self.registry.lock:
            running = list(self._processes.values())
        for process in running:
            kill_group(process)

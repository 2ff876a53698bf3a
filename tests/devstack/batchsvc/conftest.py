"""Fixtures: the Batch service as a real process on a free port, and the real SDK client."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from azure.batch import BatchClient
from azure.batch import models as m

# The SDK's signature names this model, but the package does not export it.
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from tests.devstack.batchsvc.blobstore import REPO_ROOT, blobs  # noqa: F401 - a session fixture
from tests.devstack.batchsvc.contract import SwaggerContract

ACCOUNT = "devstackbatch"
# A secret in the service's own environment: it must never reach a task.
LEAK_CANARY = "DROPBATCH_TEST_SERVICE_SECRET"


@dataclass
class RunningService:
    url: str
    account: str
    key: str
    state_dir: Path
    nodes_root: Path
    process: subprocess.Popen[str]
    stderr_lines: list[str]

    def client(self, key: str | None = None) -> BatchClient:
        # Every response the SDK sees is checked against the swagger (see contract.py).
        return BatchClient(
            self.url,
            AzureNamedKeyCredential(self.account, key or self.key),
            per_retry_policies=[SwaggerContract()],
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self.close_pipes()

    def close_pipes(self) -> None:
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()


def start_service(
    state_dir: Path, *extra: str, key: str | None = None, env: dict[str, str] | None = None
) -> RunningService:
    key = key or base64.b64encode(secrets.token_bytes(64)).decode()
    nodes_root = state_dir / "nodes"
    command = [
        sys.executable,
        "-m",
        "devstack.batchsvc",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state-dir",
        str(state_dir),
        "--account",
        ACCOUNT,
        "--key",
        key,
        "--nodes-root",
        str(nodes_root),
        *extra,
    ]
    process_env = dict(os.environ)
    process_env[LEAK_CANARY] = "do-not-leak-" + uuid.uuid4().hex
    process_env.update(env or {})
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=process_env,
        cwd=REPO_ROOT,
    )
    _STARTED.append(process)
    stderr_lines: list[str] = []

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append(line)

    threading.Thread(target=drain, daemon=True).start()
    ready: list[str] = []
    out = process.stdout
    assert out is not None
    reader = threading.Thread(target=lambda: ready.append(out.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    if not ready or not ready[0]:
        process.kill()
        raise RuntimeError("the Batch service did not get ready:\n" + "".join(stderr_lines))
    event = json.loads(ready[0])
    assert event["event"] == "ready" and event["service"] == "batch", event
    return RunningService(event["url"], ACCOUNT, key, state_dir, nodes_root, process, stderr_lines)


# Every service a test starts, so that one the test did not stop (it failed first) is stopped
# when the test ends.
_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def stop_services_left_running() -> Iterator[None]:
    """A test that starts its own service and fails before stopping it leaves nothing behind."""
    before = len(_STARTED)
    yield
    for process in _STARTED[before:]:
        if process.poll() is None:
            tree = psutil.Process(process.pid).children(recursive=True)
            process.kill()
            process.wait(10)
            for child in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
    del _STARTED[before:]


@pytest.fixture(autouse=True)
def swagger_contract() -> Iterator[None]:
    """Fail the test if any response it received broke the swagger contract."""
    SwaggerContract.violations.clear()
    yield
    found = list(SwaggerContract.violations)
    SwaggerContract.violations.clear()
    assert not found, "responses that break the swagger contract:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def node_payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("image")
    (folder / "hello.sh").write_text("#!/bin/sh\necho baked-in $1\n")
    (folder / "hello.sh").chmod(0o755)
    return folder / "hello.sh"


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, node_payload: Path
) -> Iterator[RunningService]:
    running = start_service(
        tmp_path_factory.mktemp("batch-state"),
        "--node-file",
        f"{node_payload}:tools/hello.sh",
        "--node-env",
        "IMAGE_NAME=devstack-test-image",
    )
    yield running
    assert running.stop() == 0, "".join(running.stderr_lines)


@pytest.fixture(scope="session")
def client(service: RunningService) -> BatchClient:
    return service.client()


@pytest.fixture
def ids() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pool(client: BatchClient, ids: Callable[[str], str]) -> Callable[..., str]:
    """A pool factory: `pool(nodes=2, slots=1, **more)` returns the new pool's id."""

    def make(nodes: int = 2, slots: int = 1, low_priority: int = 0, **more: Any) -> str:
        pool_id = ids("pool")
        client.create_pool(
            m.BatchPoolCreateOptions(
                id=pool_id,
                vm_size="standard_d2s_v3",
                target_dedicated_nodes=nodes,
                target_low_priority_nodes=low_priority,
                task_slots_per_node=slots,
                **more,
            )
        )
        return pool_id

    return make


@pytest.fixture
def job(
    client: BatchClient, ids: Callable[[str], str], pool: Callable[..., str]
) -> Callable[..., str]:
    """A job factory on a fresh pool: `job(nodes=2, slots=1, pool_id=None, **more)`."""

    def make(nodes: int = 2, slots: int = 1, pool_id: str | None = None, **more: Any) -> str:
        job_id = ids("job")
        target = pool_id or pool(nodes=nodes, slots=slots)
        client.create_job(
            m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=target), **more)
        )
        return job_id

    return make


# The SDK annotates polling_interval as int, yet its pollers sleep any number of seconds; a
# tenth of a second keeps the tests of long-running operations quick.
QUICK_POLL: int = 0.1  # type: ignore[assignment]


def terminating(reason: str) -> BatchJobTerminateOptions:
    """The body of a terminate-job request with its reason, as the REST API spells it."""
    return BatchJobTerminateOptions({"terminateReason": reason})


def pool_of(client: BatchClient, job_id: str) -> str:
    """The pool the job runs on."""
    info = client.get_job(job_id).pool_info
    assert info.pool_id, info
    return info.pool_id


def wait_until(condition: Callable[[], Any], timeout: float = 60, interval: float = 0.05) -> Any:
    """Poll until `condition()` is truthy; its value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def execution(task: m.BatchTask) -> m.BatchTaskExecutionInfo:
    """The task's execution information, which the service gives every task it has scheduled."""
    assert task.execution_info is not None, f"task {task.id} has no execution information"
    return task.execution_info


def job_execution(job: m.BatchJob) -> m.BatchJobExecutionInfo:
    """The job's execution information, which the service gives every job."""
    assert job.execution_info is not None, f"job {job.id} has no execution information"
    return job.execution_info


def failure(task: m.BatchTask) -> m.BatchTaskFailureInfo:
    """Why the task failed; the test expects it to have."""
    info = execution(task).failure_info
    assert info is not None, f"task {task.id} has no failure information"
    return info


def node_of(task: m.BatchTask) -> m.BatchNodeInfo:
    """The node the task ran on; the test expects it to have been placed."""
    assert task.node_info is not None, f"task {task.id} has no node information"
    return task.node_info


def placement(task: m.BatchTask) -> tuple[str, str]:
    """The pool and the node the task was placed on."""
    info = node_of(task)
    assert info.pool_id and info.node_id, info
    return info.pool_id, info.node_id


def task_dir(service: RunningService, task: m.BatchTask) -> Path:
    """The task's folder on its node, as the service lays nodes out on disk."""
    root = node_of(task).task_root_directory
    assert root, task.node_info
    return service.nodes_root.joinpath(*placement(task), root)


def span(task: m.BatchTask) -> tuple[dt.datetime, dt.datetime]:
    """When the task started and ended; the test expects it to have done both."""
    info = execution(task)
    assert info.start_time is not None and info.end_time is not None, info
    return info.start_time, info.end_time


def odata_code(error: HttpResponseError) -> str | None:
    """The code of the OData error body the SDK parsed from the service's answer."""
    assert error.error is not None, f"no OData error body: {error}"
    return error.error.code


def wait_task_completed(
    client: BatchClient, job_id: str, task_id: str, timeout: float = 60
) -> m.BatchTask:
    def done() -> m.BatchTask | None:
        task = client.get_task(job_id, task_id)
        return task if task.state == m.BatchTaskState.COMPLETED else None

    task: m.BatchTask = wait_until(done, timeout)
    return task

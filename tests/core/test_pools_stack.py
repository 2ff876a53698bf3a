"""The pools of a routes file on the local Batch service: created with a start task that really
installs the worker, compared and reported rather than recreated, external ones looked for;
and the CLI that pushes assets and checks pools."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from azure.batch import BatchClient, models

from batch_core import intake
from batch_core.batch_service import BatchService
from batch_core.batchclient import batch_client
from batch_core.blobstore import blob_service
from batch_core.clock import utcnow
from batch_core.poolcheck import MISSING_RECHECK_SECONDS, PoolKeeper
from batch_core.pools import PoolPlan, plan_pools, worker_command_for
from batch_core.poolstate import idle_pools_to_delete
from batch_core.routebook import parse_routes
from batch_core.settings import Settings
from batch_core.startscript import venv_python_command
from batch_core.states import RunState
from batch_core.workerwheel import worker_wheel
from devstack.stack import Stack
from tests.core.pipeline_helpers import CSV_HEADER, drain, drop, pipeline_with, unique

pytestmark = pytest.mark.stack

ROW = b"1,06001,US,Avon,CT,41.79,-72.86\n"

WORKER_POOL = """
version = 1
[pool.work]
id = "{id}"
vm_size = "{vm_size}"
autoscale = false
dedicated_max = 1
install_worker = true
"""


def settings_of(stack: Stack) -> Settings:
    return Settings.from_env(stack.values)


def plan(stack: Stack, text: str, alias: str) -> PoolPlan:
    return plan_pools(parse_routes(text, "routes.toml"), settings_of(stack))[alias]


def started_node(client: BatchClient, pool_id: str, timeout: float = 90.0) -> models.BatchNode:
    """The pool's first node once its start task has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in client.list_nodes(pool_id):
            info = node.start_task_info
            if info is not None and info.result is not None:
                return node
        time.sleep(0.5)
    raise AssertionError(f"no node of pool {pool_id} finished its start task in {timeout}s")


def task_output(client: BatchClient, job_id: str, task_id: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get_task(job_id, task_id)
        if task.state == models.BatchTaskState.COMPLETED:
            out = b"".join(client.download_task_file(job_id, task_id, "stdout.txt"))
            err = b"".join(client.download_task_file(job_id, task_id, "stderr.txt"))
            assert task.execution_info is not None
            assert task.execution_info.exit_code == 0, err.decode()
            return out.decode()
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} did not complete in {timeout}s")


@pytest.mark.timeout(240)
def test_a_pool_that_installs_the_worker_runs_it_from_its_start_tasks_venv(stack: Stack) -> None:
    # Given a data pool of one node whose start task installs the worker wheel
    s = settings_of(stack)
    pool_id = f"wheel-{uuid.uuid4().hex[:6]}"
    p = plan(stack, WORKER_POOL.format(id=pool_id, vm_size="standard_d2s_v3"), "work")
    batch = BatchService(batch_client(s), s)
    client = batch_client(s)
    try:
        # When dropbatch makes sure of its pools
        assert batch.ensure_pools([p]) == []

        # Then the wheel is in the assets container and the node's start task succeeded
        assets = blob_service(s).get_container_client(s.container_config)
        assert assets.get_blob_client(worker_wheel().blob_name).exists()
        node = started_node(client, pool_id)
        info = node.start_task_info
        assert info is not None and info.result == models.BatchTaskExecutionResult.SUCCESS, (
            info.failure_info if info else None
        )

        # And a task on the pool runs the worker package installed in that venv
        job_id = f"{pool_id}-job"
        client.create_job(
            models.BatchJobCreateOptions(id=job_id, pool_info=models.BatchPoolInfo(pool_id=pool_id))
        )
        check = "import worker.job, azure.cosmos; print(worker.__file__)"
        client.create_task(
            job_id,
            models.BatchTaskCreateOptions(
                id="probe", command_line=venv_python_command(f'-c "{check}"')
            ),
        )
        where = task_output(client, job_id, "probe")
        assert "/shared/dropbatch-venv/lib/" in where, where
        # (and a second look costs nothing: the pool is not read again)
        assert batch.ensure_pools([p]) == []

        # And a dropped CSV is processed by that worker, to the end
        pipe = pipeline_with(
            stack,
            DROPBATCH_BATCH_POOL_ID=pool_id,
            DROPBATCH_BATCH_JOB_PREFIX=pool_id,
            DROPBATCH_WORKER_COMMAND=worker_command_for(p, s),
        )
        run = intake.receive(pipe, drop(pipe, unique("venv.csv"), CSV_HEADER + ROW), utcnow())
        assert run is not None and run.job_id and run.task_id
        task = client.get_task(run.job_id, run.task_id)
        assert "dropbatch-venv/bin/python" in task.command_line
        done = drain(pipe, run.key)
        assert done.state is RunState.SUCCEEDED, done.reason
        assert done.summary.get("rows") == 1
    finally:
        client.begin_delete_pool(pool_id)


def test_a_pool_that_differs_from_its_plan_is_reported_and_used_as_it_is(stack: Stack) -> None:
    # Given a pool dropbatch created for a plan with one VM size
    s = settings_of(stack)
    pool_id = f"differ-{uuid.uuid4().hex[:6]}"
    text = "version = 1\n[pool.p]\nid = '{id}'\nvm_size = '{size}'\ndedicated_max = 0\n"
    before = plan(stack, text.format(id=pool_id, size="standard_d2s_v3"), "p")
    client = batch_client(s)
    assert BatchService(client, s).ensure_pools([before]) == []
    created = client.get_pool(pool_id).creation_time
    try:
        # When the routes file now asks for another size
        after = plan(stack, text.format(id=pool_id, size="standard_e8s_v5"), "p")
        problems = BatchService(client, s).ensure_pools([after])

        # Then the difference is reported, and the pool is the same pool
        assert [(x.property_name, x.expected, x.actual) for x in problems] == [
            ("vm_size", "standard_e8s_v5", "standard_d2s_v3")
        ]
        assert pool_id in problems[0].message and "never recreates" in problems[0].message
        pool = client.get_pool(pool_id)
        assert (pool.vm_size, pool.creation_time) == ("standard_d2s_v3", created)
    finally:
        client.begin_delete_pool(pool_id)


def test_a_missing_external_pool_is_reported_and_not_created(stack: Stack) -> None:
    s = settings_of(stack)
    pool_id = f"ext-{uuid.uuid4().hex[:6]}"
    ext = plan(stack, f"version = 1\n[pool.ops]\nid = '{pool_id}'\nmanaged = 'external'\n", "ops")
    client = batch_client(s)

    problems = BatchService(client, s).ensure_pools([ext])

    assert [(x.alias, x.pool_id, x.property_name) for x in problems] == [("ops", pool_id, "exists")]
    assert "external" in problems[0].message and pool_id in problems[0].message
    assert not any(p.id == pool_id for p in client.list_pools())


def dropbatch(stack: Stack, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_core.cli", "--settings", str(stack.settings_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_pools_check_prints_each_pool_and_fails_on_a_problem(stack: Stack, tmp_path: Path) -> None:
    missing = f"ext-{uuid.uuid4().hex[:6]}"
    (tmp_path / "routes.toml").write_text(
        f"version = 1\n[pool.ops]\nid = '{missing}'\nmanaged = 'external'\n"
    )

    result = dropbatch(stack, tmp_path, "pools", "check")

    assert result.returncode == 1, result.stderr
    assert f"pool 'ops' = {missing}: external" in result.stdout
    assert "does not exist" in result.stdout
    assert "pool 'default' = " in result.stdout


def test_assets_push_uploads_a_folder_under_the_prefix(stack: Stack, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    (folder / "lib").mkdir(parents=True)
    (folder / "calculate.py").write_text("print('hi')\n")
    (folder / "lib" / "grid.json").write_text("{}")
    prefix = f"t-{uuid.uuid4().hex[:6]}/v1"

    result = dropbatch(stack, tmp_path, "assets", "push", str(folder), prefix)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("2 files, 14 bytes pushed")
    s = settings_of(stack)
    container = blob_service(s).get_container_client(s.container_config)
    blobs = {b.name: b for b in container.list_blobs(name_starts_with=prefix)}
    assert sorted(blobs) == [f"{prefix}/calculate.py", f"{prefix}/lib/grid.json"]
    assert blobs[f"{prefix}/lib/grid.json"].content_settings.content_type == "application/json"
    data = container.download_blob(f"{prefix}/calculate.py").readall()
    assert data == b"print('hi')\n"


def test_init_uploads_the_worker_wheel(stack: Stack, tmp_path: Path) -> None:
    result = dropbatch(stack, tmp_path, "init")

    assert result.returncode == 0, result.stderr
    assert worker_wheel().name in result.stdout
    s = settings_of(stack)
    blob = blob_service(s).get_blob_client(s.container_config, worker_wheel().blob_name)
    assert blob.download_blob().readall() == worker_wheel().data


def test_a_missing_external_pool_is_looked_for_again_only_after_a_while(stack: Stack) -> None:
    # Given a missing external pool, checked once
    s = settings_of(stack)
    pool_id = f"late-{uuid.uuid4().hex[:6]}"
    ext = plan(stack, f"version = 1\n[pool.ops]\nid = '{pool_id}'\nmanaged = 'external'\n", "ops")
    client = batch_client(s)
    now = [0.0]
    keeper = PoolKeeper(client, lambda: None, clock=lambda: now[0])
    assert len(keeper.ensure([ext])) == 1
    # When someone creates it (as Bicep would)
    client.create_pool(
        models.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=models.BatchVmImageReference(
                    publisher="canonical", offer="ubuntu-24_04-lts", sku="server"
                ),
                node_agent_sku_id="batch.node.ubuntu 24.04",
            ),
        )
    )
    try:
        # Then the cached answer stands until the re-check is due, then it is found
        assert len(keeper.ensure([ext])) == 1
        now[0] += MISSING_RECHECK_SECONDS
        assert keeper.ensure([ext]) == []
    finally:
        client.begin_delete_pool(pool_id)


def test_the_use_of_an_idle_pool_is_what_cleanup_needs_to_delete_it(stack: Stack) -> None:
    s = settings_of(stack)
    pool_id = f"idle-{uuid.uuid4().hex[:6]}"
    text = f"version = 1\n[pool.p]\nid = '{pool_id}'\ndedicated_max = 0\ndelete_when_idle = '1m'\n"
    p = plan(stack, text, "p")
    batch = BatchService(batch_client(s), s)
    assert batch.ensure_pools([p]) == []

    use = batch.pool_use(pool_id)

    assert use is not None and use.unfinished_tasks == 0
    created = batch_client(s).get_pool(pool_id).creation_time
    assert created is not None and use.last_activity >= created
    later = use.last_activity + dt.timedelta(minutes=1)
    assert idle_pools_to_delete([p], [use], later) == [pool_id]
    batch.delete_pool(pool_id)
    batch.delete_pool(pool_id)  # twice: already being deleted is fine
    assert batch.pool_use(f"gone-{pool_id}") is None

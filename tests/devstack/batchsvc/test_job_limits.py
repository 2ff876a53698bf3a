"""Limits a fan-out job meets: maxParallelTasks, the active job quota, task collections."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from tests.devstack.batchsvc.blobstore import REPO_ROOT
from tests.devstack.batchsvc.conftest import (
    QUICK_POLL,
    execution,
    odata_code,
    start_service,
    terminating,
    wait_until,
)
from tests.devstack.batchsvc.contract import raw, validate

pytestmark = pytest.mark.stack


def _most_at_once(tasks: list[m.BatchTask]) -> int:
    """The most tasks whose [start, end] intervals overlapped (an end before a start on ties)."""
    events = [(execution(t).start_time, 1) for t in tasks]
    events += [(execution(t).end_time, -1) for t in tasks]
    running = most = 0
    for _, step in sorted(events):
        running += step
        most = max(most, running)
    return most


def _run_all(client: BatchClient, job_id: str, count: int) -> list[m.BatchTask]:
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id=f"t{i}", command_line="/bin/sh -c 'sleep 0.2'")
            for i in range(count)
        ],
    )
    wait_until(lambda: client.get_job_task_counts(job_id).task_counts.succeeded == count)
    return list(client.list_tasks(job_id))


def test_max_parallel_tasks_caps_how_many_of_the_jobs_tasks_run_at_once(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=2, slots=4, max_parallel_tasks=2)

    tasks = _run_all(client, job_id, 8)

    assert client.get_job(job_id).max_parallel_tasks == 2
    assert _most_at_once(tasks) == 2


def test_max_parallel_tasks_can_be_changed_by_a_job_update(
    client: BatchClient, job: Callable[..., str], pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0, slots=4)
    job_id = job(pool_id=pool_id)
    client.update_job(job_id, m.BatchJobUpdateOptions(max_parallel_tasks=3))
    client.begin_resize_pool(
        pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=QUICK_POLL
    ).result()

    tasks = _run_all(client, job_id, 9)

    assert _most_at_once(tasks) == 3


def test_max_parallel_tasks_is_minus_one_or_more_than_zero(
    client: BatchClient,
    job: Callable[..., str],
    pool: Callable[..., str],
    ids: Callable[[str], str],
) -> None:
    job_id = job(nodes=0)

    with pytest.raises(HttpResponseError) as on_update:
        client.update_job(job_id, m.BatchJobUpdateOptions(max_parallel_tasks=0))
    with pytest.raises(HttpResponseError) as on_create:
        client.create_job(
            m.BatchJobCreateOptions(
                id=ids("job"),
                pool_info=m.BatchPoolInfo(pool_id=pool(nodes=0)),
                max_parallel_tasks=0,
            )
        )

    assert odata_code(on_update.value) == "InvalidPropertyValue"
    assert odata_code(on_create.value) == "InvalidPropertyValue"
    assert client.get_job(job_id).max_parallel_tasks == -1


def test_adding_a_job_beyond_the_active_job_quota_is_a_conflict(tmp_path: Path) -> None:
    service = start_service(tmp_path, "--active-job-quota", "2")
    try:
        client = service.client()
        client.create_pool(
            m.BatchPoolCreateOptions(id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=0)
        )

        def add(job_id: str) -> None:
            client.create_job(
                m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="p"))
            )

        add("one")
        add("two")
        with pytest.raises(HttpResponseError) as raised:
            add("three")
        client.begin_terminate_job(
            "one", options=terminating("done"), polling_interval=QUICK_POLL
        ).result()
        add("three")  # a completed job no longer counts
        client.begin_delete_job("two", polling_interval=QUICK_POLL).result()
        add("four")

        assert raised.value.status_code == 409
        assert odata_code(raised.value) == "ActiveJobAndScheduleQuotaReached"
        assert sorted(j.id for j in client.list_jobs()) == ["four", "one", "three"]
    finally:
        assert service.stop() == 0, "".join(service.stderr_lines)


def test_the_active_job_quota_option_must_be_a_positive_number(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack.batchsvc",
            "--state-dir",
            str(tmp_path),
            "--account",
            "a",
            "--key",
            "a2V5",
            "--active-job-quota",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )

    assert done.returncode == 2
    assert "--active-job-quota wants a number >= 1, got '0'" in done.stderr


def test_a_full_task_collection_reports_the_existing_task_and_adds_the_rest(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="7", command_line="true"))
    tasks = [{"id": str(i), "commandLine": "true"} for i in range(100)]

    status, body, _ = raw(
        client, "POST", f"/jobs/{job_id}/addtaskcollection", body={"value": tasks}
    )
    too_many, refused, _ = raw(
        client,
        "POST",
        f"/jobs/{job_id}/addtaskcollection",
        body={"value": [{"id": f"x{i}", "commandLine": "true"} for i in range(101)]},
    )

    assert status == 200
    validate("BatchCreateTaskCollectionResult", body)
    failed = [r for r in body["value"] if r["status"] != "success"]
    assert [(r["taskId"], r["error"]["code"]) for r in failed] == [("7", "TaskExists")]
    assert len(body["value"]) == 100
    assert client.get_job_task_counts(job_id).task_counts.active == 100
    assert too_many == 400
    validate("BatchError", refused)

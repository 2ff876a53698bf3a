"""Faults injected at the HTTP layer and on nodes, the way callers meet them against Azure."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import ResourceExistsError, ServiceResponseError

from tests.devstack.batchsvc.conftest import (
    RunningService,
    execution,
    odata_code,
    start_service,
    task_dir,
    wait_task_completed,
    wait_until,
)

pytestmark = pytest.mark.stack


def admin(service: RunningService, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{service.url}/_devstack/{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def faults(service: RunningService) -> Iterator[Callable[..., Any]]:
    """Add a fault rule; every rule is cleared after the test."""
    yield lambda **rule: admin(service, "POST", "faults", rule)
    admin(service, "DELETE", "faults")


def test_throttling_answers_429_with_retry_after_and_the_sdk_retries(
    client: BatchClient,
    service: RunningService,
    job: Callable[..., str],
    faults: Callable[..., Any],
) -> None:
    job_id = job(nodes=0)
    admin(service, "POST", "stats/reset")
    faults(kind="throttle", operation="Jobs_GetJob", count=1, retry_after=1)

    fetched = client.get_job(job_id)

    stats = admin(service, "GET", "stats")
    assert fetched.id == job_id
    assert stats["statuses"]["429"] == 1
    assert stats["operations"]["Jobs_GetJob"] == 2


def test_a_server_error_on_a_post_is_retried_by_the_sdk(
    client: BatchClient,
    service: RunningService,
    job: Callable[..., str],
    faults: Callable[..., Any],
) -> None:
    job_id = job(nodes=0)
    admin(service, "POST", "stats/reset")
    faults(kind="error", status=503, operation="Tasks_CreateTask", count=1)

    client.create_task(job_id, m.BatchTaskCreateOptions(id="after-503", command_line="true"))

    assert client.get_task(job_id, "after-503").id == "after-503"
    assert admin(service, "GET", "stats")["statuses"]["503"] == 1


def test_a_lost_response_leaves_the_work_done_and_a_retry_meets_task_exists(
    client: BatchClient, job: Callable[..., str], faults: Callable[..., Any]
) -> None:
    job_id = job(nodes=0)
    faults(kind="drop", operation="Tasks_CreateTask", count=1)

    with pytest.raises(ServiceResponseError):
        client.create_task(job_id, m.BatchTaskCreateOptions(id="lost", command_line="true"))
    with pytest.raises(ResourceExistsError) as again:
        client.create_task(job_id, m.BatchTaskCreateOptions(id="lost", command_line="true"))

    assert odata_code(again.value) == "TaskExists"


def test_added_latency_is_applied_to_matching_operations(
    client: BatchClient,
    service: RunningService,
    job: Callable[..., str],
    faults: Callable[..., Any],
) -> None:
    job_id = job(nodes=0)
    rule = faults(kind="latency", operation="Jobs_Get*", latency_ms=50, count=2)

    client.get_job(job_id)
    client.get_job(job_id)
    client.get_job(job_id)

    fired = {r["id"]: r["fired"] for r in admin(service, "GET", "faults")["faults"]}
    assert fired[rule["id"]] == 2


def test_a_preempted_node_requeues_its_running_task_which_then_completes(
    client: BatchClient, service: RunningService, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="evicted",
            command_line="/bin/sh -c 'test -f ../seen && exit 0; touch ../seen; sleep 30'",
        ),
    )
    running = wait_until(
        lambda: (t := client.get_task(job_id, "evicted")).state == m.BatchTaskState.RUNNING and t
    )
    seen = task_dir(service, running) / "seen"
    wait_until(seen.exists)  # the first run is past its marker and sleeping

    answer = admin(service, "POST", "preempt", {"jobId": job_id, "taskId": "evicted"})
    task = wait_task_completed(client, job_id, "evicted")

    assert answer["requeued"] == [f"{job_id}/evicted"]
    assert execution(task).requeue_count == 1
    assert execution(task).retry_count == 0
    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS


def test_a_preempt_rule_evicts_tasks_soon_after_they_start(
    client: BatchClient, job: Callable[..., str], faults: Callable[..., Any]
) -> None:
    job_id = job(nodes=1)
    faults(kind="preempt", operation=f"{job_id}/*", count=1, after_ms=100)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="spot", command_line="sleep 1"))

    task = wait_task_completed(client, job_id, "spot")

    assert execution(task).requeue_count == 1
    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS


def test_faults_can_be_set_when_the_service_starts(tmp_path: Path) -> None:
    running = start_service(
        tmp_path / "state", "--fault", "throttle:operation=Pools_ListPools,count=1"
    )
    try:
        pools = list(running.client().list_pools())
        stats = admin(running, "GET", "stats")
    finally:
        assert running.stop() == 0

    assert pools == []
    assert stats["statuses"]["429"] == 1


def test_an_invalid_fault_is_refused(service: RunningService) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        admin(service, "POST", "faults", {"kind": "meteor"})
    raised.value.close()

    assert raised.value.code == 400

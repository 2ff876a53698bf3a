"""Task dependencies as a fan-out job uses them: members, a merge on their range, reactivation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from tests.devstack.batchsvc.conftest import (
    QUICK_POLL,
    execution,
    odata_code,
    span,
    terminating,
    wait_task_completed,
    wait_until,
)
from tests.devstack.batchsvc.contract import raw, validate

pytestmark = pytest.mark.stack

MEMBERS = 250


def _merge(end: int, start: int = 0, task_id: str = "merge") -> m.BatchTaskCreateOptions:
    return m.BatchTaskCreateOptions(
        id=task_id,
        command_line="true",
        depends_on=m.BatchTaskDependencies(
            task_id_ranges=[m.BatchTaskIdRange(start=start, end=end)]
        ),
    )


def _succeeded_after(task: m.BatchTask, *before: m.BatchTask) -> None:
    assert execution(task).result == m.BatchTaskExecutionResult.SUCCESS
    assert span(task)[0] >= max(span(t)[1] for t in before)


def test_a_merge_on_a_range_of_250_members_runs_only_after_all_of_them_succeeded(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=2, slots=4, uses_task_dependencies=True)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id=str(i), command_line=f"/bin/sh -c 'echo member {i}'")
            for i in range(MEMBERS)
        ],
    )
    client.create_task(job_id, _merge(MEMBERS - 1))

    merge = wait_task_completed(client, job_id, "merge", timeout=120)
    members = [t for t in client.list_tasks(job_id) if t.id != "merge"]

    assert len(members) == MEMBERS
    assert all(execution(t).result == m.BatchTaskExecutionResult.SUCCESS for t in members)
    _succeeded_after(merge, *members)
    assert merge.depends_on is not None and merge.depends_on.task_id_ranges is not None
    assert merge.depends_on.task_id_ranges[0].end == MEMBERS - 1


def test_a_failed_member_blocks_the_merge_until_it_is_reactivated_and_succeeds(
    client: BatchClient, job: Callable[..., str], tmp_path: Path
) -> None:
    marker = tmp_path / "input-ready"
    job_id = job(nodes=1, slots=4, uses_task_dependencies=True)
    members = [m.BatchTaskCreateOptions(id=str(i), command_line="true") for i in range(5)]
    members[3] = m.BatchTaskCreateOptions(
        id="3",
        command_line=f"test -f {marker}",
        constraints=m.BatchTaskConstraints(max_task_retry_count=1),
    )
    client.create_tasks(job_id, members)
    client.create_task(job_id, _merge(4))

    failed = wait_task_completed(client, job_id, "3")
    wait_until(lambda: client.get_job_task_counts(job_id).task_counts.completed == 5)
    blocked = client.get_task(job_id, "merge")
    counts = client.get_job_task_counts(job_id)

    assert execution(failed).result == m.BatchTaskExecutionResult.FAILURE
    assert execution(failed).retry_count == 1
    assert blocked.state == m.BatchTaskState.ACTIVE
    assert execution(blocked).start_time is None
    # A blocked task counts as active, in tasks and in slots.
    assert counts.task_counts.active == 1 and counts.task_counts.running == 0
    assert counts.task_counts.succeeded == 4 and counts.task_counts.failed == 1
    assert counts.task_slot_counts.active == 1

    marker.write_text("ready\n")
    client.reactivate_task(job_id, "3")
    merge = wait_task_completed(client, job_id, "merge")
    member = client.get_task(job_id, "3")

    assert execution(member).result == m.BatchTaskExecutionResult.SUCCESS
    assert execution(member).exit_code == 0
    assert execution(member).retry_count == 0  # reset by the reactivation
    assert span(member)[0] > span(failed)[1]
    _succeeded_after(merge, member)


def test_only_a_failed_task_can_be_reactivated(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, uses_task_dependencies=True)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="ok", command_line="true"))
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="waits", command_line="true", depends_on=m.BatchTaskDependencies(task_ids=["x"])
        ),
    )
    wait_task_completed(client, job_id, "ok")

    codes = {}
    for task_id in ("ok", "waits"):
        status, body, _ = raw(client, "POST", f"/jobs/{job_id}/tasks/{task_id}/reactivate")
        assert status == 409
        validate("BatchError", body)
        codes[task_id] = body["code"]
    client.begin_terminate_job(
        job_id, options=terminating("done"), polling_interval=QUICK_POLL
    ).result()
    with pytest.raises(HttpResponseError) as after_job:
        client.reactivate_task(job_id, "ok")

    assert codes == {"ok": "TaskSucceeded", "waits": "TaskNotCompleted"}
    assert odata_code(after_job.value) == "JobCompleted"


def test_a_range_selects_existing_tasks_with_integer_ids_leading_zeros_included(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1, slots=2, uses_task_dependencies=True)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="3", command_line="true"),
            m.BatchTaskCreateOptions(id="07", command_line="/bin/sh -c 'sleep 0.3'"),
            m.BatchTaskCreateOptions(id="5flamingoes", command_line="false"),
            m.BatchTaskCreateOptions(id="12", command_line="false"),
        ],
    )
    client.create_task(job_id, _merge(start=1, end=10))

    merge = wait_task_completed(client, job_id, "merge")
    padded = client.get_task(job_id, "07")

    _succeeded_after(merge, padded)


def test_a_task_ids_list_longer_than_64000_characters_is_refused(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0, uses_task_dependencies=True)
    at_limit = [f"{i:064d}" for i in range(1000)]  # exactly 64,000 characters
    client.create_task(
        job_id,
        m.BatchTaskCreateOptions(
            id="fits", command_line="true", depends_on=m.BatchTaskDependencies(task_ids=at_limit)
        ),
    )
    over = [*at_limit, "x"]

    with pytest.raises(HttpResponseError) as raised:
        client.create_task(
            job_id,
            m.BatchTaskCreateOptions(
                id="too-long",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=over),
            ),
        )
    status, body, _ = raw(
        client,
        "POST",
        f"/jobs/{job_id}/addtaskcollection",
        body={
            "value": [
                {"id": "in-collection", "commandLine": "true", "dependsOn": {"taskIds": over}},
                {"id": "beside-it", "commandLine": "true"},
            ]
        },
    )

    assert raised.value.status_code == 400
    assert odata_code(raised.value) == "TaskDependencyListTooLong"
    assert status == 200
    validate("BatchCreateTaskCollectionResult", body)
    by_id = {r["taskId"]: r for r in body["value"]}
    assert by_id["in-collection"]["status"] == "clienterror"
    assert by_id["in-collection"]["error"]["code"] == "TaskDependencyListTooLong"
    assert by_id["beside-it"]["status"] == "success"
    fits = client.get_task(job_id, "fits").depends_on
    assert fits is not None and len(fits.task_ids or []) == 1000


@pytest.mark.parametrize(
    ("depends_on", "name"),
    [
        ({"taskIdRanges": [{"start": 5, "end": 2}]}, "dependsOn.taskIdRanges[0].end"),
        ({"taskIdRanges": [{"start": 1}]}, "dependsOn.taskIdRanges[0].end"),
        ({"taskIds": ["a", 7]}, "dependsOn.taskIds"),
    ],
)
def test_a_malformed_dependency_is_named_in_the_error(
    client: BatchClient, job: Callable[..., str], depends_on: dict[str, object], name: str
) -> None:
    job_id = job(nodes=0, uses_task_dependencies=True)

    status, body, _ = raw(
        client,
        "POST",
        f"/jobs/{job_id}/tasks",
        body={"id": "t", "commandLine": "true", "dependsOn": depends_on},
    )

    assert status == 400
    validate("BatchError", body)
    values = {item["key"]: item["value"] for item in body["values"]}
    assert values["PropertyName"] == name


def test_autoscale_counts_only_tasks_ready_to_run_as_active(
    client: BatchClient, job: Callable[..., str], pool: Callable[..., str]
) -> None:
    pool_id = pool(nodes=0)
    job_id = job(pool_id=pool_id, uses_task_dependencies=True)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="0", command_line="true"),
            m.BatchTaskCreateOptions(id="1", command_line="true"),
            m.BatchTaskCreateOptions(
                id="after-0",
                command_line="true",
                depends_on=m.BatchTaskDependencies(task_ids=["0"]),
            ),
            _merge(1),
        ],
    )
    client.enable_pool_auto_scale(
        pool_id, m.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 0;")
    )

    run = client.evaluate_pool_auto_scale(
        pool_id,
        m.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula=(
                "$ready = max($ActiveTasks.GetSample(1));"
                " $pending = max($PendingTasks.GetSample(1)); $TargetDedicatedNodes = 0;"
            )
        ),
    )
    counts = client.get_job_task_counts(job_id).task_counts

    assert run.error is None
    assert run.results is not None
    assert "$ready=2" in run.results.split(";")
    assert "$pending=2" in run.results.split(";")
    assert counts.active == 4

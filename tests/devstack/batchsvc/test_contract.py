"""Every response body the service sends matches the Batch swagger (api-version 2025-06-01)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from azure.batch import BatchClient
from azure.batch import models as m

from tests.devstack.batchsvc.conftest import wait_task_completed, wait_until
from tests.devstack.batchsvc.contract import raw, validate

pytestmark = pytest.mark.stack


def test_the_swagger_validator_rejects_a_wrong_shape() -> None:
    # The contract suite is only worth something if the validator can fail.
    with pytest.raises(Exception, match="is not of type"):
        validate(
            "BatchTaskCounts",
            {"active": "x", "running": 0, "completed": 0, "succeeded": 0, "failed": 0},
        )


def test_pool_bodies_match_the_swagger(client: BatchClient, pool: Callable[..., str]) -> None:
    pool_id = pool(nodes=1, slots=2)

    status, body, headers = raw(client, "GET", f"/pools/{pool_id}")
    list_status, listed, _ = raw(client, "GET", "/pools", maxresults="2")

    assert status == 200 and list_status == 200
    validate("BatchPool", body)
    validate("BatchPoolListResult", listed)
    assert (
        body["id"] == pool_id and body["state"] == "active" and body["allocationState"] == "steady"
    )
    assert body["currentDedicatedNodes"] == 1 and body["taskSlotsPerNode"] == 2
    assert headers["ETag"] == body["eTag"]
    assert headers["Last-Modified"].endswith("GMT")


def test_job_bodies_match_the_swagger(client: BatchClient, job: Callable[..., str]) -> None:
    job_id = job(nodes=0)

    status, body, _ = raw(client, "GET", f"/jobs/{job_id}")
    _, listed, _ = raw(client, "GET", "/jobs", **{"$filter": f"id eq '{job_id}'"})
    _, counts, _ = raw(client, "GET", f"/jobs/{job_id}/taskcounts")

    assert status == 200
    validate("BatchJob", body)
    validate("BatchJobListResult", listed)
    validate("BatchTaskCountsResult", counts)
    assert [j["id"] for j in listed["value"]] == [job_id]
    assert body["state"] == "active" and body["poolInfo"]["poolId"]


def test_task_bodies_match_the_swagger_in_every_state(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=1)
    client.create_tasks(
        job_id,
        [
            m.BatchTaskCreateOptions(id="ok", command_line="true"),
            m.BatchTaskCreateOptions(id="fails", command_line="false"),
            m.BatchTaskCreateOptions(id="missing", command_line="no-such-program"),
        ],
    )
    for task_id in ("ok", "fails", "missing"):
        wait_task_completed(client, job_id, task_id)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="running", command_line="sleep 30"))
    wait_until(lambda: client.get_task(job_id, "running").state == m.BatchTaskState.RUNNING)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="queued", command_line="true"))

    for task_id in ("ok", "fails", "missing", "running", "queued"):
        status, body, _ = raw(client, "GET", f"/jobs/{job_id}/tasks/{task_id}")
        assert status == 200
        validate("BatchTask", body)
    _, listed, _ = raw(client, "GET", f"/jobs/{job_id}/tasks", maxresults="2")
    validate("BatchTaskListResult", listed)
    assert "odata.nextLink" in listed
    client.terminate_task(job_id, "running")


def test_a_task_collection_result_matches_the_swagger(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)
    payload = {
        "value": [
            {"id": "a", "commandLine": "true"},
            {"id": "a", "commandLine": "true"},
            {"id": "b"},
        ]
    }

    status, body, _ = raw(client, "POST", f"/jobs/{job_id}/addtaskcollection", body=payload)

    assert status == 200
    validate("BatchCreateTaskCollectionResult", body)
    assert [(r["taskId"], r["status"]) for r in body["value"]] == [
        ("a", "success"),
        ("a", "clienterror"),
        ("b", "clienterror"),
    ]
    assert body["value"][1]["error"]["code"] == "TaskExists"
    assert body["value"][2]["error"]["code"] == "MissingRequiredProperty"


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code"),
    [
        ("GET", "/jobs/no-such-job", None, 404, "JobNotFound"),
        ("GET", "/pools/no-such-pool", None, 404, "PoolNotFound"),
        ("POST", "/jobs", {"poolInfo": {"poolId": "p"}}, 400, "MissingRequiredProperty"),
        (
            "POST",
            "/jobs",
            {"id": "bad id", "poolInfo": {"poolId": "p"}},
            400,
            "InvalidPropertyValue",
        ),
        ("POST", "/pools", {"id": "p-no-size"}, 400, "MissingRequiredProperty"),
        ("GET", "/no/such/route", None, 404, "InvalidUri"),
    ],
)
def test_error_bodies_match_the_swagger(
    client: BatchClient, method: str, path: str, payload: object, status: int, code: str
) -> None:
    got_status, body, _ = raw(client, method, path, body=payload)

    assert got_status == status
    validate("BatchError", body)
    assert body["code"] == code
    assert body["message"]["lang"] == "en-US" and body["message"]["value"]
    assert body["odata.metadata"].endswith(
        "$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"
    )


def test_every_operation_in_the_swagger_has_a_route() -> None:
    from devstack.batchsvc.routes import ROUTES
    from tests.devstack.batchsvc.contract import SWAGGER

    spec = json.loads(SWAGGER.read_text())
    documented = {
        op["operationId"]
        for methods in spec["paths"].values()
        for op in methods.values()
        if isinstance(op, dict) and "operationId" in op
    }

    assert documented - {r.operation for r in ROUTES} == set()


def test_left_out_features_answer_with_a_clear_error(
    client: BatchClient, job: Callable[..., str]
) -> None:
    job_id = job(nodes=0)
    client.create_task(job_id, m.BatchTaskCreateOptions(id="t", command_line="true"))

    status, body, _ = raw(client, "GET", "/jobschedules")

    assert status == 400 and body["code"] == "FeatureNotSupported"
    assert "Job schedules" in body["message"]["value"]
    assert list(client.list_subtasks(job_id, "t")) == []
    assert list(client.list_job_preparation_and_release_task_status(job_id)) == []

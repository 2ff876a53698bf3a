"""The local Cosmos server's transactional batches, read by the real SDK: the wire format the
worker depends on (`ContainerProxy.execute_item_batch`), all or nothing, Cosmos DB's limits."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from devstack.servers import start_cosmos
from tests.worker.node import WorkerStack, records_container

pytestmark = pytest.mark.stack


@pytest.fixture
def records(worker_stack: WorkerStack) -> ContainerProxy:
    return worker_stack.records


@pytest.fixture
def pk() -> str:
    return f"contract-{uuid.uuid4().hex}"


def ids_in(records: ContainerProxy, pk: str) -> list[str]:
    items = records.query_items(
        "SELECT c.id FROM c WHERE c.pk = @pk",
        parameters=[{"name": "@pk", "value": pk}],
        enable_cross_partition_query=True,
    )
    return sorted(str(item["id"]) for item in items)


def upsert(item_id: str, pk: str, **fields: Any) -> tuple[str, tuple[Any, ...]]:
    return ("upsert", ({"id": item_id, "pk": pk, **fields},))


def test_a_batch_returns_one_result_per_operation(records: ContainerProxy, pk: str) -> None:
    records.upsert_item({"id": "old", "pk": pk, "n": 1})

    results = records.execute_item_batch(
        [
            upsert("a", pk, n=1),
            ("create", ({"id": "b", "pk": pk},)),
            ("replace", ("old", {"id": "old", "pk": pk, "n": 2})),
            ("read", ("a",)),
            ("patch", ("old", [{"op": "incr", "path": "/n", "value": 3}])),
            ("delete", ("b",)),
        ],
        partition_key=pk,
    )

    assert [r["statusCode"] for r in results] == [201, 201, 200, 200, 200, 204]
    assert results[0]["resourceBody"]["n"] == 1
    assert results[0]["eTag"] == results[0]["resourceBody"]["_etag"]
    assert results[3]["resourceBody"]["id"] == "a"
    assert results[4]["resourceBody"]["n"] == 5
    assert all(r["requestCharge"] > 0 for r in results)
    assert ids_in(records, pk) == ["a", "old"]


def test_upserting_again_replaces_and_answers_200(records: ContainerProxy, pk: str) -> None:
    records.execute_item_batch([upsert("a", pk, n=1)], partition_key=pk)

    results = records.execute_item_batch([upsert("a", pk, n=2)], partition_key=pk)

    assert results[0]["statusCode"] == 200
    assert records.read_item("a", partition_key=pk)["n"] == 2


def test_a_failing_operation_fails_the_whole_batch_and_names_its_index(
    records: ContainerProxy, pk: str
) -> None:
    records.upsert_item({"id": "taken", "pk": pk, "n": 1})

    with pytest.raises(CosmosBatchOperationError) as caught:
        records.execute_item_batch(
            [
                upsert("first", pk),
                ("upsert", ({"id": "taken", "pk": pk, "n": 2},)),
                ("create", ({"id": "taken", "pk": pk},)),
                upsert("last", pk),
            ],
            partition_key=pk,
        )

    error = caught.value
    assert (error.error_index, error.status_code) == (2, 409)
    assert [r["statusCode"] for r in error.operation_responses] == [424, 424, 409, 424]
    # Nothing of it was applied: not the upserts before the failure, nor after.
    assert ids_in(records, pk) == ["taken"]
    assert records.read_item("taken", partition_key=pk)["n"] == 1


Operation = tuple[Any, ...]

FAILURES: dict[str, tuple[Callable[[str], Operation], int]] = {
    "read of a missing id": (lambda pk: ("read", ("missing",)), 404),
    "delete of a missing id": (lambda pk: ("delete", ("missing",)), 404),
    "replace of a missing id": (
        lambda pk: ("replace", ("missing", {"id": "missing", "pk": pk})),
        404,
    ),
    "document of another partition": (lambda pk: upsert("x", "another partition"), 400),
    "stale if-match": (
        lambda pk: ("replace", ("taken", {"id": "taken", "pk": pk}), {"if_match_etag": "stale"}),
        412,
    ),
}


@pytest.mark.parametrize("case", FAILURES)
def test_operation_failures_carry_cosmos_statuses(
    records: ContainerProxy, pk: str, case: str
) -> None:
    make, status = FAILURES[case]
    records.upsert_item({"id": "taken", "pk": pk})

    with pytest.raises(CosmosBatchOperationError) as caught:
        records.execute_item_batch([upsert("ok", pk), make(pk)], partition_key=pk)

    assert (caught.value.error_index, caught.value.status_code) == (1, status)
    assert ids_in(records, pk) == ["taken"]


def test_operations_see_the_earlier_ones_of_the_same_batch(
    records: ContainerProxy, pk: str
) -> None:
    results = records.execute_item_batch(
        [("create", ({"id": "a", "pk": pk},)), ("read", ("a",)), ("delete", ("a",))],
        partition_key=pk,
    )

    assert [r["statusCode"] for r in results] == [201, 200, 204]
    assert ids_in(records, pk) == []


def test_more_than_100_operations_are_refused(records: ContainerProxy, pk: str) -> None:
    with pytest.raises(CosmosHttpResponseError) as caught:
        records.execute_item_batch([upsert(str(i), pk) for i in range(101)], partition_key=pk)

    assert caught.value.status_code == 400
    assert ids_in(records, pk) == []


def test_a_request_over_2_mb_is_refused_as_too_large(records: ContainerProxy, pk: str) -> None:
    half = "x" * 1_100_000

    with pytest.raises(CosmosHttpResponseError) as caught:
        records.execute_item_batch(
            [upsert("a", pk, t=half), upsert("b", pk, t=half)], partition_key=pk
        )

    assert caught.value.status_code == 413
    assert ids_in(records, pk) == []
    # Each half alone fits.
    records.execute_item_batch([upsert("a", pk, t=half)], partition_key=pk)
    assert ids_in(records, pk) == ["a"]


def test_batches_under_a_round_trip_latency_keep_their_connection(tmp_path: Path) -> None:
    # Each answer echoes its 100 documents (about 70 kB), more than a socket's default write
    # buffer: the server must still read the next request on the same connection.
    cosmos = start_cosmos(tmp_path, latency_ms=2)
    try:
        records = records_container(cosmos)
        for n in range(20):
            batch = [upsert(f"{n}-{i}", "p", text="x" * 600) for i in range(100)]
            assert len(records.execute_item_batch(batch, partition_key="p")) == 100
    finally:
        cosmos.process.stop()

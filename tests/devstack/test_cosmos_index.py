"""The local Cosmos server's indexes (devstack/cosmos_index.js): a query filtered on equality
answers exactly what a scan of every document answers, through creates, replaces, upserts,
deletes and transactional batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure.cosmos import ContainerProxy

from devstack.stack import Stack
from tests.contract.conftest import CosmosScratch

pytestmark = pytest.mark.stack


@pytest.fixture
def scratch(stack: Stack) -> Iterator[CosmosScratch]:
    made = CosmosScratch(stack)
    yield made
    made.drop()


@pytest.fixture
def docs(scratch: CosmosScratch) -> ContainerProxy:
    return scratch.container("docs", "/id")


def ids(c: ContainerProxy, query: str, **params: Any) -> list[str]:
    parameters: list[dict[str, object]] = [{"name": f"@{k}", "value": v} for k, v in params.items()]
    return sorted(
        d["id"] if isinstance(d, dict) else str(d)
        for d in c.query_items(query, parameters=parameters, enable_cross_partition_query=True)
    )


def test_equality_in_and_array_contains_answer_as_a_scan_does(docs: ContainerProxy) -> None:
    for i in range(12):
        docs.create_item(
            {"id": f"d{i}", "state": ["new", "done", "gone"][i % 3], "flag": i % 2 == 0, "n": i}
        )
    docs.create_item({"id": "text", "state": "new", "flag": "true", "n": "1"})  # other types
    docs.create_item({"id": "bare", "state": "new"})  # no flag at all

    assert ids(docs, "SELECT * FROM c WHERE c.state = 'new'") == ids(
        docs, "SELECT * FROM c WHERE STARTSWITH(c.state, 'ne')"
    )
    assert ids(docs, "SELECT * FROM c WHERE c.flag = true") == ["d0", "d10", "d2", "d4", "d6", "d8"]
    assert ids(docs, "SELECT * FROM c WHERE c.flag = false AND c.state = @s", s="done") == [
        "d1",
        "d7",
    ]
    assert ids(docs, "SELECT * FROM c WHERE c.n = 1") == ["d1"]
    assert ids(docs, "SELECT * FROM c WHERE c.state IN ('done', 'gone') AND c.n = @n", n=5) == [
        "d5"
    ]
    assert ids(docs, "SELECT * FROM c WHERE ARRAY_CONTAINS(@s, c.state)", s=["gone"]) == [
        "d11",
        "d2",
        "d5",
        "d8",
    ]
    assert ids(docs, "SELECT * FROM c WHERE c.flag = true OR (c.state = 'gone' AND c.n > 6)") == [
        "d0",
        "d10",
        "d11",
        "d2",
        "d4",
        "d6",
        "d8",
    ]
    assert ids(docs, "SELECT VALUE c.id FROM c WHERE c.id IN (@a, @b)", a="d3", b="nope") == ["d3"]
    top = list(
        docs.query_items(
            "SELECT TOP 2 * FROM c WHERE c.state = 'done' ORDER BY c.n DESC",
            enable_cross_partition_query=True,
        )
    )
    assert [d["id"] for d in top] == ["d10", "d7"]


def test_every_kind_of_write_keeps_the_index_true(docs: ContainerProxy) -> None:
    docs.create_item({"id": "a", "state": "new"})
    docs.create_item({"id": "b", "state": "new"})
    docs.upsert_item({"id": "c", "state": "new"})

    docs.replace_item("a", {"id": "a", "state": "done"})
    docs.upsert_item({"id": "c", "state": "done"})
    docs.delete_item("b", partition_key="b")
    docs.create_item({"id": "b", "state": "gone"})

    assert ids(docs, "SELECT * FROM c WHERE c.state = 'new'") == []
    assert ids(docs, "SELECT * FROM c WHERE c.state = 'done'") == ["a", "c"]
    assert ids(docs, "SELECT * FROM c WHERE c.state = 'gone'") == ["b"]


def test_a_transactional_batch_is_indexed_as_it_is_applied(scratch: CosmosScratch) -> None:
    docs = scratch.container("grouped", "/pk")
    docs.create_item({"id": "k", "pk": "p", "state": "new"})
    docs.execute_item_batch(
        [
            ("replace", ("k", {"id": "k", "pk": "p", "state": "done"})),
            ("create", ({"id": "m", "pk": "p", "state": "new"},)),
        ],
        partition_key="p",
    )

    assert ids(docs, "SELECT * FROM c WHERE c.state = 'done'") == ["k"]
    assert ids(docs, "SELECT * FROM c WHERE c.state = 'new'") == ["m"]

"""Documents grouped into transactional batches: one partition key each, Cosmos DB's limits
on operations and bytes, every document exactly once, and a bounded number held back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from worker.batches import (
    MAX_OPERATIONS,
    MAX_PENDING_DOCUMENTS,
    MAX_REQUEST_BYTES,
    Batch,
    batches,
    request_bytes,
)


def doc(row: int, pk: str = "file", text: str = "x") -> dict[str, Any]:
    return {"id": f"id-{row}", "pk": pk, "row": row, "values": {"a": text}}


def rows_of(found: list[Batch]) -> list[int]:
    return sorted(d["row"] for b in found for d in b.documents)


def test_one_partition_makes_full_batches_in_file_order() -> None:
    found = list(batches(doc(i) for i in range(1, 251)))

    assert [len(b) for b in found] == [100, 100, 50]
    assert [d["row"] for d in found[0].documents] == list(range(1, 101))
    assert {b.partition_key for b in found} == {"file"}
    assert found[2].describe() == "50 rows (201-250)"


def test_each_batch_holds_one_partition_key_value() -> None:
    states = ["NC", "CT", "MD", "VA"]
    found = list(batches(doc(i, pk=states[i % 4]) for i in range(1, 1001)))

    assert all({d["pk"] for d in b.documents} == {b.partition_key} for b in found)
    assert all(len(b) <= MAX_OPERATIONS for b in found)
    assert sorted(len(b) for b in found) == [50] * 4 + [100] * 8
    assert rows_of(found) == list(range(1, 1001))


def test_a_batch_stays_within_the_request_limit_as_the_sdk_sends_it() -> None:
    # Non-ASCII text is sent escaped (\u00e9: six bytes a character).
    big = "é" * 100_000
    found = list(batches(doc(i, text=big) for i in range(1, 11)))

    assert all(b.request_bytes <= MAX_REQUEST_BYTES for b in found)
    assert [len(b) for b in found] == [3, 3, 3, 1]
    wire = json.dumps([{"operationType": "Upsert", "resourceBody": d} for d in found[0].documents])
    assert len(json.dumps(json.loads(wire), separators=(",", ":"))) == found[0].request_bytes


def test_a_document_over_the_limit_goes_alone() -> None:
    found = list(batches([doc(1), doc(2, text="y" * (MAX_REQUEST_BYTES + 1)), doc(3)]))

    assert [[d["row"] for d in b.documents] for b in found] == [[1], [2], [3]]
    assert found[1].bytes == request_bytes(found[1].documents[0])


def test_many_partitions_are_flushed_before_the_end_so_memory_stays_bounded() -> None:
    consumed = 0

    def unique_partitions() -> Iterator[dict[str, Any]]:
        nonlocal consumed
        for i in range(1, 3 * MAX_PENDING_DOCUMENTS + 1):
            consumed = i
            yield doc(i, pk=f"p{i}")

    first_batch_after = None
    found = []
    for batch in batches(unique_partitions()):
        if first_batch_after is None:
            first_batch_after = consumed
        found.append(batch)

    assert first_batch_after == MAX_PENDING_DOCUMENTS + 1
    assert rows_of(found) == list(range(1, 3 * MAX_PENDING_DOCUMENTS + 1))
    # The oldest group goes out first.
    assert found[0].documents[0]["row"] == 1


def test_halves_keep_every_document_once() -> None:
    batch = next(batches(doc(i) for i in range(1, 8)))

    first, second = batch.halves()

    assert ([d["row"] for d in first.documents], [d["row"] for d in second.documents]) == (
        [1, 2, 3],
        [4, 5, 6, 7],
    )
    assert first.bytes + second.bytes == batch.bytes
    assert first.operations()[0] == ("upsert", (doc(1),))

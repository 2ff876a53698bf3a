"""The records' promise, kept by the Cosmos adapter and the twin: a file version's documents
go, whatever their partition, and nobody else's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from batch_core.ports import RecordsPort
from batch_core.records import Records
from batch_core.testing import MemoryRecords
from tests.contract.conftest import CosmosScratch


@dataclass
class RecordsSide:
    port: RecordsPort
    add: Callable[[dict[str, Any]], object]  # the worker writes a document


@pytest.fixture
def records(side: str, request: pytest.FixtureRequest) -> RecordsSide:
    if side == "memory":
        twin = MemoryRecords()
        return RecordsSide(twin, twin.add)
    scratch: CosmosScratch = request.getfixturevalue("cosmos_scratch")
    container = scratch.container("records", "/pk")
    return RecordsSide(Records(container), lambda doc: container.create_item(doc))


def test_purge_removes_every_document_of_one_file_version_only(records: RecordsSide) -> None:
    for i, (pk, key) in enumerate([("CT", "k1"), ("NY", "k1"), ("CT", "k2")]):
        records.add({"id": f"d{i}", "pk": pk, "file_key": key, "row": i})
    assert records.port.purge("k1") == 2
    assert records.port.purge("k1") == 0
    assert records.port.purge("k2") == 1

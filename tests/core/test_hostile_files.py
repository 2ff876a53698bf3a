"""Files that are not text through the whole worker on the local stack: rejected with the row
and the byte, and nothing stored in Cosmos; the rejects file a spreadsheet may open keeps
formula cells escaped."""

from __future__ import annotations

import csv
import io

import pytest

from batch_core import intake
from batch_core.clock import utcnow
from batch_core.cosmosdb import RECORDS, cosmos_client
from batch_core.pipeline import Pipeline
from batch_core.states import RunState
from devstack.stack import Stack
from tests.core.pipeline_helpers import CSV_HEADER, drain, drop, pipeline_with, unique
from worker.contract import REJECTS_FILE, output_prefix

pytestmark = pytest.mark.stack

GOOD = b"".join(b"%d,06001,US,Avon,CT,41.79,-72.86\n" % i for i in range(1, 200))


def documents_of(p: Pipeline, key: str) -> list[str]:
    records = (
        cosmos_client(p.settings)
        .get_database_client(p.settings.cosmos_database)
        .get_container_client(RECORDS)
    )
    found = records.query_items(
        "SELECT VALUE c.id FROM c WHERE c.pk = @k",
        parameters=[{"name": "@k", "value": key}],
        partition_key=key,
    )
    return [str(i) for i in found]


@pytest.mark.parametrize(
    ("tail", "cause"),
    [
        (b"200,06001,US,Av\x00on,CT,1,1\n", "row 200 (line 201): a NUL byte (0x00) at character"),
        (b"200,06001,US,\xff\xfe,CT,1,1\n", "row 200 (line 201): not valid utf-8 (byte 0xff)"),
    ],
    ids=["nul", "not-utf8"],
)
def test_a_csv_that_is_not_text_is_rejected_and_stores_no_document(
    stack: Stack, tail: bytes, cause: str
) -> None:
    p = pipeline_with(stack)
    name = unique("binary.csv")
    run = intake.receive(p, drop(p, name, CSV_HEADER + GOOD + tail), utcnow())
    assert run is not None

    done = drain(p, run.key, timeout=120)

    assert done.state is RunState.REJECTED
    assert cause in done.reason, done.reason
    assert documents_of(p, run.key) == []


def test_the_rejects_file_keeps_formula_cells_escaped(stack: Stack) -> None:
    p = pipeline_with(stack)
    name = unique("formulas.csv")
    bad = b'200,"=HYPERLINK(""http://x"")",+1,-1,@SUM(A1),"\tT","\rC",extra\n'
    run = intake.receive(p, drop(p, name, CSV_HEADER + GOOD + bad), utcnow())
    assert run is not None

    done = drain(p, run.key, timeout=120)

    assert done.state is RunState.SUCCEEDED, done.reason
    assert len(documents_of(p, run.key)) == 199
    data = p.blobs.read_tail(
        p.settings.container_results, f"{output_prefix(name, run.key)}/{REJECTS_FILE}", 1 << 20
    )
    assert data is not None
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[1][3:] == [
        "200", "'=HYPERLINK(\"http://x\")", "'+1", "'-1", "'@SUM(A1)", "'\tT", "'\rC", "extra",
    ]  # fmt: skip

"""The worker's writes in transactional batches, end to end against the local servers: a
re-run overwrites, a request too large is split, a refused document fails the run naming its
row, and many partition key values are each written in batches of their own."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.worker import corpus
from tests.worker.node import LOGS, RESULTS, WorkerStack, result_path, unique
from tests.worker.throttle import ThrottlePolicy, run_behind_proxy
from worker.contract import SUMMARY_FILE, worker_log_path

pytestmark = pytest.mark.stack

STATES = ("NC", "CT", "MD", "VA", "SC", "GA", "TN")


def rows(n: int, state: str = "NC") -> bytes:
    lines = [f"{i},{27000 + i},US,T{i},{state},35.{i},-80.{i}" for i in range(1, n + 1)]
    return corpus.csv_text(*lines).encode()


def cosmos_counts(stack: WorkerStack, name: str, key: str) -> dict[str, float]:
    counts: dict[str, float] = json.loads(stack.read(LOGS, worker_log_path(name, key)))["counts"][
        "cosmos"
    ]
    return counts


def test_a_rerun_of_the_same_file_overwrites_and_writes_no_duplicate(
    worker_stack: WorkerStack,
) -> None:
    name = unique("rerun.csv")
    first = worker_stack.process("csv", name, rows(230))
    assert first.code == 0, first.stderr
    before = {d["id"]: d["_etag"] for d in worker_stack.documents(first.key)}

    again = worker_stack.process("csv", name)

    assert again.code == 0, again.stderr
    assert again.key == first.key
    after = worker_stack.documents(again.key)
    assert len(after) == 230
    assert {d["id"] for d in after} == set(before)
    # Every document was written again (upserted), not left alone.
    assert all(d["_etag"] != before[d["id"]] for d in after)
    assert cosmos_counts(worker_stack, name, again.key)["written"] == 230


def test_many_partition_key_values_are_all_written_one_partition_a_batch(
    worker_stack: WorkerStack,
) -> None:
    lines = [
        f"{i},{27000 + i},US,T{i},{STATES[i % len(STATES)]},35.{i},-80.{i}" for i in range(1, 1401)
    ]
    name = unique("states.csv")

    run = worker_stack.process(
        "csv", name, corpus.csv_text(*lines).encode(), DROPBATCH_PARTITION_BY="state_abbrv"
    )

    assert run.code == 0, run.stderr
    documents = worker_stack.documents(run.key)
    assert sorted(d["row"] for d in documents) == list(range(1, 1401))
    assert all(d["pk"] == d["values"]["state_abbrv"] for d in documents)
    assert Counter(d["pk"] for d in documents) == dict.fromkeys(STATES, 200)
    # 200 rows of each of seven states: two full batches each.
    assert cosmos_counts(worker_stack, name, run.key)["batches"] == 14


def test_a_partition_key_value_per_row_is_written_too(worker_stack: WorkerStack) -> None:
    name = unique("by-id.csv")

    run = worker_stack.process("csv", name, rows(150), DROPBATCH_PARTITION_BY="postal_cd")

    assert run.code == 0, run.stderr
    documents = worker_stack.documents(run.key)
    assert sorted(d["pk"] for d in documents) == [str(27000 + i) for i in range(1, 151)]
    assert cosmos_counts(worker_stack, name, run.key)["batches"] == 150


def test_a_batch_the_service_finds_too_large_is_split_until_it_fits(
    worker_stack: WorkerStack,
) -> None:
    name = unique("split.csv")
    # A batch of 100 of these documents is about 60 kB as sent; 20 kB holds about 30.
    policy = ThrottlePolicy(times=0, max_batch_bytes=20_000)
    proc, key = run_behind_proxy(worker_stack, policy, name, rows(100))

    assert proc.returncode == 0, proc.stderr
    assert sorted(d["row"] for d in worker_stack.documents(key)) == list(range(1, 101))
    counts = cosmos_counts(worker_stack, name, key)
    # 100 -> 2 x 50 -> 4 x 25: three splits, four batches written.
    assert (counts["split_batches"], counts["batches"]) == (3, 4)
    assert policy.too_large == 3
    assert sorted(len(b) for b in policy.batches) == [25, 25, 25, 25, 50, 50, 100]


@pytest.mark.parametrize(("status", "exit_code"), [(409, 1), (503, 75)])
def test_a_document_refused_inside_a_batch_fails_the_run_naming_its_row(
    worker_stack: WorkerStack, status: int, exit_code: int
) -> None:
    name = unique("refused.csv")
    policy = ThrottlePolicy(times=0, refuse_rows={57: status})
    proc, key = run_behind_proxy(
        worker_stack,
        policy,
        name,
        rows(150),
        DROPBATCH_COSMOS_CONCURRENCY="1",
        DROPBATCH_COSMOS_MAX_ATTEMPTS="2",
    )

    # Permanent (409): a crash, retried then failed; 503 past the attempts: transient.
    assert proc.returncode == exit_code, proc.stderr
    assert "write row 57: Cosmos DB refused its document (id " in proc.stderr
    assert f"with {status}, so its batch of 100 rows (1-100) was not written" in proc.stderr
    written = {d["row"] for d in worker_stack.documents(key)}
    assert not written & set(range(1, 101))
    assert not worker_stack.exists(RESULTS, result_path(name, key, SUMMARY_FILE))
    # A retryable status retries the batch (up to the attempts), a permanent one does not.
    first_batch = [rows for rows in policy.batches if 57 in rows]
    assert len(first_batch) == (2 if status == 503 else 1)


def test_a_document_too_large_as_sent_fails_the_run_naming_its_row(
    worker_stack: WorkerStack,
) -> None:
    # 400,000 non-ASCII characters: 0.8 MB as stored, but 2.4 MB as the SDK sends it
    # (escaped), more than one request to Cosmos DB may hold, even alone.
    wide = "é" * 400_000
    data = corpus.csv_text(
        "1,27001,US,A,NC,35.1,-80.1",
        f"2,27002,US,{wide},NC,35.2,-80.2",
        "3,27003,US,C,NC,35.3,-80.3",
    ).encode()
    name = unique("wide.csv")

    run = worker_stack.process(
        "csv",
        name,
        data,
        DROPBATCH_CSV_MAX_FIELD_CHARS="500000",
        DROPBATCH_MAX_REJECT_RATIO="0.5",
    )

    assert run.code == 1, run.stderr
    assert "write row 2: Cosmos DB refused its document as too large (413;" in run.stderr
    assert 2 not in {d["row"] for d in worker_stack.documents(run.key)}

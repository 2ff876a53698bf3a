"""Cosmos DB throttling: Retry-After honoured, bounded retries, exit 76 when the budget is spent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.servers import start_cosmos
from tests.worker import corpus
from tests.worker.node import (
    LOGS,
    RESULTS,
    WorkerStack,
    attach_worker_stack,
    result_path,
    unique,
)
from tests.worker.throttle import ThrottlePolicy, ThrottlingProxy, proxy_for, run_behind_proxy
from worker.contract import SUMMARY_FILE, worker_log_path
from worker.writers import ROWS_PER_PROCESS

pytestmark = pytest.mark.stack

# Rows enough for two writer processes.
BIG = 2 * ROWS_PER_PROCESS + 100


def rows(n: int) -> bytes:
    return corpus.csv_text(*[f"{i},1,US,T{i},NC,35.{i},-80.{i}" for i in range(1, n + 1)]).encode()


@pytest.fixture
def throttled_twice(worker_stack: WorkerStack) -> Iterator[ThrottlingProxy]:
    with proxy_for(worker_stack, ThrottlePolicy(times=2, retry_after_ms=15)) as proxy:
        yield proxy


def test_batches_throttled_twice_wait_as_told_and_are_then_accepted(
    worker_stack: WorkerStack, throttled_twice: ThrottlingProxy
) -> None:
    name = unique("throttled.csv")
    etag, key = worker_stack.upload(name, rows(250))
    env = worker_stack.task_env(
        "csv", name, etag, key, DROPBATCH_COSMOS_ENDPOINT=throttled_twice.endpoint
    )

    proc = worker_stack.run_worker(env)

    assert proc.returncode == 0, proc.stderr
    assert sorted(d["row"] for d in worker_stack.documents(key)) == list(range(1, 251))
    stats = json.loads(worker_stack.read(LOGS, worker_log_path(name, key)))["counts"]["cosmos"]
    # Three batches (100, 100 and 50 rows), each throttled twice, then accepted whole.
    assert (stats["batches"], stats["written"]) == (3, 250)
    assert stats["throttled"] == 6
    assert stats["attempts"] == 9
    assert stats["throttle_wait_seconds"] == pytest.approx(6 * 0.015)
    sent = throttled_twice.policy.batches
    assert sorted(len(rows) for rows in sent) == [50, 50, 50, 100, 100, 100, 100, 100, 100]
    assert throttled_twice.policy.throttled == 6


def test_a_document_throttled_past_the_attempt_limit_exits_76(worker_stack: WorkerStack) -> None:
    name = unique("always.csv")
    policy = ThrottlePolicy(times=None, retry_after_ms=5)
    proc, key = run_behind_proxy(
        worker_stack,
        policy,
        name,
        rows(5),
        DROPBATCH_COSMOS_MAX_ATTEMPTS="3",
        DROPBATCH_COSMOS_CONCURRENCY="1",
    )

    assert proc.returncode == 76, proc.stderr
    assert (
        "write a batch of 5 rows (1-5): Cosmos DB throttled it 3 times in a row"
        " (DROPBATCH_COSMOS_MAX_ATTEMPTS)"
    ) in proc.stderr
    # The one batch was tried exactly three times; the run then stopped.
    assert max(policy.attempts.values()) == 3
    assert not worker_stack.exists(RESULTS, result_path(name, key, SUMMARY_FILE))


def test_throttling_that_would_outlast_the_wait_budget_exits_76(worker_stack: WorkerStack) -> None:
    proc, _ = run_behind_proxy(
        worker_stack,
        ThrottlePolicy(times=None, retry_after_ms=60_000),
        unique("budget.csv"),
        rows(5),
        DROPBATCH_COSMOS_THROTTLE_BUDGET_SECONDS="1",
    )

    assert proc.returncode == 76, proc.stderr
    assert (
        "Cosmos DB throttling would need more than 1s of waiting"
        " (DROPBATCH_COSMOS_THROTTLE_BUDGET_SECONDS)"
    ) in proc.stderr


def test_a_blob_replaced_while_its_rows_are_written_leaves_no_documents_and_exits_4(
    worker_stack: WorkerStack,
) -> None:
    name = unique("raced.csv")
    etag, key = worker_stack.upload(name, rows(10))

    def replace_the_blob() -> None:
        worker_stack.upload(name, rows(3))

    policy = ThrottlePolicy(times=0, before_first_write=replace_the_blob)
    with proxy_for(worker_stack, policy) as proxy:
        env = worker_stack.task_env(
            "csv", name, etag, key, DROPBATCH_COSMOS_ENDPOINT=proxy.endpoint
        )
        proc = worker_stack.run_worker(env)

    assert proc.returncode == 4, proc.stderr
    assert "changed while processing" in proc.stderr
    assert worker_stack.documents(key) == []
    assert not worker_stack.exists(RESULTS, result_path(name, key, SUMMARY_FILE))


@pytest.fixture
def own_cosmos(worker_stack: WorkerStack, tmp_path: Path) -> Iterator[WorkerStack]:
    """The shared Azurite with a Cosmos server of its own: the local server scans every
    document on each query, and tens of thousands more would slow every later test."""
    cosmos = start_cosmos(tmp_path)
    try:
        stack = attach_worker_stack(worker_stack.azurite, cosmos, tmp_path)
        yield stack
        stack.blobs.close()
    finally:
        cosmos.process.stop()


def test_a_big_file_is_written_by_several_processes_each_row_once(
    own_cosmos: WorkerStack,
) -> None:
    name = unique("big.csv")
    # Nothing is throttled: the proxy only records what each batch held.
    policy = ThrottlePolicy(times=0)

    proc, key = run_behind_proxy(
        own_cosmos, policy, name, rows(BIG), DROPBATCH_COSMOS_PROCESSES="2"
    )

    assert proc.returncode == 0, proc.stderr
    log = json.loads(own_cosmos.read(LOGS, worker_log_path(name, key)))["counts"]
    assert log["writer_processes"] == 2
    assert log["cosmos"]["written"] == BIG
    assert sorted(row for batch in policy.batches for row in batch) == list(range(1, BIG + 1))


def test_a_writer_process_spending_its_budget_stops_the_run_with_exit_76(
    worker_stack: WorkerStack,
) -> None:
    name = unique("big-throttled.csv")
    proc, key = run_behind_proxy(
        worker_stack,
        ThrottlePolicy(times=None, retry_after_ms=5),
        name,
        rows(BIG),
        DROPBATCH_COSMOS_PROCESSES="2",
        DROPBATCH_COSMOS_MAX_ATTEMPTS="2",
    )

    assert proc.returncode == 76, proc.stderr
    assert "Cosmos DB throttled it 2 times in a row" in proc.stderr
    assert not worker_stack.exists(RESULTS, result_path(name, key, SUMMARY_FILE))


def test_sigterm_mid_write_exits_143_cleans_up_and_writes_the_task_log(
    worker_stack: WorkerStack,
) -> None:
    name = unique("terminated.csv")
    etag, key = worker_stack.upload(name, rows(200))
    wrote = threading.Event()
    # Every upsert is throttled for a while: the run is still writing when the signal comes.
    policy = ThrottlePolicy(times=None, retry_after_ms=500, before_first_write=wrote.set)
    with proxy_for(worker_stack, policy) as proxy:
        env = worker_stack.task_env(
            "csv", name, etag, key, DROPBATCH_COSMOS_ENDPOINT=proxy.endpoint
        )
        workdir = worker_stack.root / "tasks" / unique("t").replace("/", "-")
        workdir.mkdir(parents=True)
        env["AZ_BATCH_TASK_WORKING_DIR"] = str(workdir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker"],
            cwd=workdir,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert wrote.wait(60)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 143, stderr
    assert list(workdir.iterdir()) == []
    log = json.loads(worker_stack.read(LOGS, worker_log_path(name, key)))
    assert (log["exit_code"], log["error"]) == (143, "Terminated: stopped by signal SIGTERM")
    assert not worker_stack.exists(RESULTS, result_path(name, key, SUMMARY_FILE))


def test_a_throttled_clean_up_query_is_retried_too(worker_stack: WorkerStack) -> None:
    name = unique("query.csv")
    worker_stack.process("csv", name, rows(3))
    etag, key = worker_stack.upload(name, rows(2))
    with proxy_for(worker_stack, ThrottlePolicy(times=0, queries=2)) as proxy:
        env = worker_stack.task_env(
            "csv", name, etag, key, DROPBATCH_COSMOS_ENDPOINT=proxy.endpoint
        )
        proc = worker_stack.run_worker(env)

    assert proc.returncode == 0, proc.stderr
    assert proxy.policy.throttled == 2
    assert sorted(d["file_key"] for d in worker_stack.documents_of(name)) == [key, key]

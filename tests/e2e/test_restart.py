"""Restart under load: files dropped in a burst onto the whole local stack while the Batch
service, the Functions host and the Cosmos server each restart on their own. Every file ends
`succeeded` once, with one Batch task per attempt, and Cosmos holds exactly the records of
their rows, except for what a Cosmos restart loses: the server keeps data in memory and a
snapshot carries it across the restart, so a write it acknowledged after the snapshot and
before the stop is gone (measured and printed; the deterministic case is the last test).

DROPBATCH_RESTART_FILES sets the burst (default 100; 500 for the full run)."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from batch_core.batch_service import batch_client
from batch_core.clock import utcnow
from batch_core.cosmosdb import RECORDS, RUNS, cosmos_client
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from batch_core.states import RunState
from devstack.restarts import restart_batch, restart_cosmos, restart_functions
from devstack.stack import Stack
from tests.conftest import TEST_OVERRIDES, _start
from tests.e2e.runs import runs_under, wait_for_runs
from worker.document import document_id

pytestmark = [pytest.mark.e2e, pytest.mark.stack]

FILES = int(os.environ.get("DROPBATCH_RESTART_FILES", "100"))
ROWS = 3
HEADER = "id,postal_cd,country_cd,city_name,state_abbrv,latitude,longitude\n"
OVERRIDES = {
    **TEST_OVERRIDES,
    # A task killed with the Batch service, or a worker that lost Cosmos, is tried again.
    "DROPBATCH_MAX_ATTEMPTS": "5",
    "DROPBATCH_SWEEP_SECONDS": "5",
}


def csv_of(i: int) -> bytes:
    rows = "".join(f"{r},0600{r},US,Town{i},CT,41.{i},-72.{r}\n" for r in range(1, ROWS + 1))
    return (HEADER + rows).encode()


def document_ids(key: str) -> list[str]:
    return [document_id(key, f"row:{row}") for row in range(1, ROWS + 1)]


@pytest.fixture(scope="module")
def restarted_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = _start(tmp_path_factory.mktemp("restart"), True, OVERRIDES)
    yield stack
    stack.stop()


def wait_until_ended(p: Pipeline, prefix: str, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while sum(r.state.terminal for r in runs_under(p, prefix)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} runs of {prefix} ended in {timeout}s")
        time.sleep(0.5)


def burst(p: Pipeline, prefix: str, count: int) -> list[str]:
    """Drop `count` CSVs of ROWS rows each at once; return their names."""
    names = [f"{prefix}f{i:04d}.csv" for i in range(count)]

    def drop(i: int) -> None:
        p.blobs.upload(p.settings.container_incoming, names[i], csv_of(i))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(drop, range(count)))
    return names


def check_once_each(p: Pipeline, names: list[str], runs: list[Run]) -> None:
    """Every file ended succeeded with one run, and Batch holds one task per attempt."""
    assert sorted(r.name for r in runs) == names
    assert Counter(r.state.value for r in runs) == {"succeeded": len(names)}, [
        (r.name, r.reason) for r in runs if r.state.value != "succeeded"
    ]
    batch = batch_client(p.settings)
    task_ids = Counter(t.id for job in batch.list_jobs() for t in batch.list_tasks(job.id) if t.id)
    for run in runs:
        mine = sorted(t for t in task_ids if run.key[:32] in t)
        assert len(mine) == run.attempt, (run.name, mine, run.attempt)
        assert all(task_ids[t] == 1 for t in mine)


def missing_records(p: Pipeline, runs: list[Run]) -> dict[str, list[str]]:
    """By file: the records it should have and Cosmos does not hold. Raises if Cosmos holds
    a record of these files that no row made."""
    records = (
        cosmos_client(p.settings)
        .get_database_client(p.settings.cosmos_database)
        .get_container_client(RECORDS)
    )
    missing: dict[str, list[str]] = {}
    for run in runs:
        held = {
            str(i)
            for i in records.query_items(
                "SELECT VALUE c.id FROM c WHERE c.pk = @k",
                parameters=[{"name": "@k", "value": run.key}],
                partition_key=run.key,
            )
        }
        wanted = set(document_ids(run.key))
        assert held <= wanted, (run.name, sorted(held - wanted))
        if wanted - held:
            missing[run.name] = sorted(wanted - held)
    return missing


def test_restarts_of_batch_and_the_functions_host_mid_burst_lose_and_repeat_nothing(
    restarted_stack: Stack,
) -> None:
    stack = restarted_stack
    p = Pipeline.build(Settings.from_env(stack.values))
    prefix = f"restart-{uuid.uuid4().hex[:6]}/"

    # Given a burst of files dropped into `incoming`
    names = burst(p, prefix, FILES)

    # When, while they are processed, the Batch service restarts, then the Functions host
    report: dict[str, object] = {"files": FILES}
    restarts: list[tuple[str, Callable[[Stack], float], int]] = [
        ("batch", restart_batch, FILES // 10),
        ("functions", restart_functions, FILES // 3),
    ]
    for server, restart, after in restarts:
        wait_until_ended(p, prefix, after)
        report[f"{server}_at_ended"] = sum(r.state.terminal for r in runs_under(p, prefix))
        report[f"{server}_seconds"] = round(restart(stack), 2)
    runs = wait_for_runs(p, prefix, FILES, timeout=120 + FILES)
    print(json.dumps(report))

    # Then every file ended succeeded once, one task per attempt, and Cosmos holds exactly
    # the records of their rows
    check_once_each(p, names, runs)
    assert missing_records(p, runs) == {}


def test_a_cosmos_restart_mid_burst_loses_only_writes_after_its_snapshot(
    restarted_stack: Stack,
) -> None:
    stack = restarted_stack
    p = Pipeline.build(Settings.from_env(stack.values))
    settled_prefix, prefix = f"settled-{uuid.uuid4().hex[:6]}/", f"burst-{uuid.uuid4().hex[:6]}/"
    # Given files that were processed before, and a burst being processed
    settled_names = burst(p, settled_prefix, 10)
    settled = wait_for_runs(p, settled_prefix, 10)
    names = burst(p, prefix, FILES)

    # When the Cosmos server restarts mid-burst, its data carried over by a snapshot
    wait_until_ended(p, prefix, FILES // 3)
    restart = restart_cosmos(stack)
    runs = wait_for_runs(p, prefix, FILES, timeout=120 + FILES)

    # Then every file still ends succeeded once, one task per attempt
    check_once_each(p, settled_names, settled)
    check_once_each(p, names, runs)
    # And what was in the snapshot is all there
    assert missing_records(p, settled) == {}
    # But records written after the snapshot and before the stop may be gone for good: the
    # ledger says those files succeeded, and nothing writes their records again. This is
    # what a restart of the in-memory server loses (the README says so).
    lost = missing_records(p, runs)
    print(json.dumps({"files": FILES, "cosmos": restart.as_json(), "files_missing_records":
                      len(lost), "records_missing": sum(map(len, lost.values()))}))  # fmt: skip


def test_a_cosmos_restart_loses_what_the_server_acknowledged_after_its_snapshot(
    restarted_stack: Stack,
) -> None:
    stack = restarted_stack
    p = Pipeline.build(Settings.from_env(stack.values))
    before, window = ended_run("before"), ended_run("window")
    assert p.ledger.create(before)[1]

    # When a run is recorded after the snapshot, before the server stops
    report = restart_cosmos(stack, after_snapshot=lambda: p.ledger.create(window))

    # Then the run recorded before the snapshot is back, the one after it is gone (a query:
    # the local server answers a read of a missing document with 500, not 404)
    assert stored_runs(p, [before.key, window.key]) == [before.key]
    assert window.key in report.lost["runs"]
    assert before.key not in report.lost["runs"]


def stored_runs(p: Pipeline, keys: list[str]) -> list[str]:
    runs = (
        cosmos_client(p.settings)
        .get_database_client(p.settings.cosmos_database)
        .get_container_client(RUNS)
    )
    found = runs.query_items(
        "SELECT VALUE c.id FROM c WHERE ARRAY_CONTAINS(@keys, c.id)",
        parameters=[{"name": "@keys", "value": keys}],
        enable_cross_partition_query=True,
    )
    return sorted(str(i) for i in found)


def ended_run(tag: str) -> Run:
    """A run that no trigger, sweep or reconciler touches: ended, of a container of its own."""
    now = utcnow()
    key = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    return Run(
        key=key, container="restart-probe", name=f"{tag}-{key[:8]}.csv", etag='"0x1"', size=1,
        route="csv", state=RunState.REJECTED, reason="a probe", created_at=now, updated_at=now,
    )  # fmt: skip

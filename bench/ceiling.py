"""The `worker_csv` ceiling: documents already built, upserted in transactional batches
(grouped by `pk`, 100 a batch: Cosmos DB's limit) with `processes` x `threads` batches in
flight, and nothing else (no parsing, no checks, no retries of our own).

The Cosmos SDK spends milliseconds of CPU per request under the GIL, so the documents are
split by position across spawned processes when the worker used several, each with its own
client; the clock starts when every process has its share loaded and grouped and stops when
the last one is done.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.cosmos import ContainerProxy

from batch_core.cosmosdb import cosmos_client
from batch_core.settings import Settings

_READY_TIMEOUT = 120.0
# Cosmos DB's most operations in one transactional batch.
BATCH_OPERATIONS = 100

Batch = tuple[Any, list[dict[str, Any]]]


def container_for(values: dict[str, str], name: str) -> ContainerProxy:
    settings = Settings.from_env(values)
    db = cosmos_client(settings).get_database_client(settings.cosmos_database)
    return db.get_container_client(name)


def batched(docs: list[dict[str, Any]]) -> list[Batch]:
    """The documents by partition key value, in batches of at most BATCH_OPERATIONS."""
    by_pk: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for doc in docs:
        by_pk[doc["pk"]].append(doc)
    return [
        (pk, group[i : i + BATCH_OPERATIONS])
        for pk, group in by_pk.items()
        for i in range(0, len(group), BATCH_OPERATIONS)
    ]


def write_threaded(container: ContainerProxy, batches: list[Batch], threads: int) -> None:
    def write(batch: Batch) -> None:
        pk, docs = batch
        container.execute_item_batch([("upsert", (doc,)) for doc in docs], partition_key=pk)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ceiling") as pool:
        for _ in pool.map(write, batches):
            pass


def _share(path: Path, shard: int, shards: int) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for i, line in enumerate(lines) if i % shards == shard]


def _writer(
    values: dict[str, str],
    container_name: str,
    path: str,
    shard: int,
    shards: int,
    threads: int,
    barrier: Any,
    results: Any,
) -> None:
    try:
        container = container_for(values, container_name)
        docs = _share(Path(path), shard, shards)
        batches = batched(docs)
        barrier.wait(_READY_TIMEOUT)
        write_threaded(container, batches, threads)
        results.put(("ok", len(docs)))
    except BaseException as e:
        results.put(("error", f"{type(e).__name__}: {e}"))
        raise


def run(
    values: dict[str, str],
    container_name: str,
    docs: list[dict[str, Any]],
    processes: int,
    threads: int,
    scratch: Path,
) -> float:
    """Upsert `docs` in batches; return the seconds from all writers ready to all done."""
    if processes <= 1:
        container = container_for(values, container_name)
        batches = batched(docs)
        start = time.perf_counter()
        write_threaded(container, batches, threads)
        return time.perf_counter() - start
    path = scratch / "ceiling-documents.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [
        context.Process(
            target=_writer,
            args=(values, container_name, str(path), i, processes, threads, barrier, results),
            daemon=True,
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(_READY_TIMEOUT)
        start = time.perf_counter()
        outcomes = [results.get(timeout=_READY_TIMEOUT * 10) for _ in workers]
        seconds = time.perf_counter() - start
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    errors = [detail for status, detail in outcomes if status != "ok"]
    if errors:
        raise RuntimeError(f"ceiling writers failed: {errors}")
    return seconds

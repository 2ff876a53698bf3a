"""The write pass, fanned out to processes for big files.

The Cosmos SDK spends milliseconds of CPU per request under the GIL; in transactional
batches of 100 that is tens of microseconds a row, so one process writes some ten thousand
documents a second however many threads it runs, and starting another costs about a second
of CPU (the interpreter and the SDKs). A big file is therefore split by row number across
writer processes (row number modulo the process count) only past ROWS_PER_PROCESS rows a
process: each re-reads the downloaded file (parsing costs microseconds a row), and batches
and upserts its share with its own client, threads and retry budget. The first failure
stops the others; its exit code wins.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.contract import WorkerExit
from worker.credentials import Credentials, identity_for
from worker.document import Source
from worker.errors import (
    ServiceError,
    WorkerConfigError,
    WorkerError,
    WorkerTransientError,
    WriteBudgetSpent,
)
from worker.options import WriteOptions
from worker.records import RecordStore
from worker.rows import Sized, sized_documents
from worker.settings import WorkerSettings
from worker.tasklog import configure_logging

if TYPE_CHECKING:
    # Imported when a file needs writer processes: most files need none.
    import multiprocessing
    from multiprocessing.process import BaseProcess

log = logging.getLogger(__name__)

# Below this many documents per process, starting a process costs more than it saves
# (measured on the local stack: 10,000 rows took 1.1 s in one process, 1.6 s in two).
ROWS_PER_PROCESS = 25_000
_POLL_SECONDS = 0.5


def writer_count(options: WriteOptions, documents_to_write: int) -> int:
    """How many processes write the documents: one per so many rows, at most as many as the options
    allow."""
    return max(1, min(options.processes, documents_to_write // ROWS_PER_PROCESS))


def _source(settings: WorkerSettings) -> Source:
    return Source(settings.input_container, settings.input_blob, settings.input_etag)


def _share(settings: WorkerSettings, path: Path, shard: int, shards: int) -> Iterator[Sized]:
    with open(path, "rb") as handle:
        items = sized_documents(handle, settings.csv, settings.file_key, _source(settings))
        for item in items:
            if item[0]["row"] % shards == shard:
                yield item


def write_all(
    settings: WorkerSettings,
    path: Path,
    documents_to_write: int,
    records: RecordStore,
    kept: Iterable[Sized] | None = None,
) -> int:
    """Upsert every good row's document (`kept` holds them from the check pass, or the file
    is read again); return how many processes wrote."""
    shards = writer_count(settings.writes, documents_to_write)
    if shards == 1:
        records.upsert_all(kept if kept is not None else _share(settings, path, 0, 1))
        return 1
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    processes: list[BaseProcess] = [
        context.Process(
            target=_writer_main,
            args=(settings, str(path), shard, shards, results),
            name=f"writer-{shard}",
            daemon=True,
        )
        for shard in range(shards)
    ]
    log.info("writing %s documents with %s processes", documents_to_write, shards)
    for process in processes:
        process.start()
    try:
        for _ in range(shards):
            message = _next_message(results, processes)
            records.stats.merge(message[-1])
            if message[0] != "ok":
                raise _error_from(message)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join()
        results.close()
    return shards


def _next_message(
    results: multiprocessing.Queue[tuple[Any, ...]], processes: list[BaseProcess]
) -> tuple[Any, ...]:
    while True:
        try:
            return results.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise WorkerError(
                    f"writer process {dead[0].name} died (exit {dead[0].exitcode})"
                ) from None


def _error_from(message: tuple[Any, ...]) -> WorkerError:
    kind = message[0]
    if kind == "config":
        return WorkerConfigError(message[1], message[2])
    text = str(message[2])
    by_code: dict[int, type[WorkerError]] = {
        WriteBudgetSpent.exit_code: WriteBudgetSpent,
        WorkerTransientError.exit_code: WorkerTransientError,
        ServiceError.exit_code: ServiceError,
    }
    return by_code.get(int(message[1]), WorkerError)(text)


def _writer_main(
    settings: WorkerSettings,
    path: str,
    shard: int,
    shards: int,
    results: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """Entry point of a writer process. Exceptions travel back as plain tuples: ours do not
    all survive pickling."""
    configure_logging()
    store: RecordStore | None = None
    try:
        credentials = Credentials.load(settings.credentials_path)
        store = RecordStore.connect(settings, credentials, identity_for(settings, credentials))
        try:
            store.upsert_all(_share(settings, Path(path), shard, shards))
        finally:
            store.close()
        results.put(("ok", store.stats.as_json()))
    except WorkerConfigError as e:
        results.put(("config", e.setting, e.problem, _stats(store)))
    except WorkerError as e:
        results.put(("error", e.exit_code, f"writer {shard}: {e}", _stats(store)))
    except Exception as e:
        log.exception("writer %s crashed", shard)
        crashed = f"writer {shard} crashed: {type(e).__name__}"
        results.put(("error", WorkerExit.CRASH, crashed, _stats(store)))


def _stats(store: RecordStore | None) -> dict[str, float]:
    return store.stats.as_json() if store is not None else {}

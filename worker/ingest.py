"""The csv route: rows to Cosmos DB documents, plus the summary and the rejects file.

Two passes over the downloaded file (see `worker.rows`): the first checks every row and
decides the outcome without writing anything, so a rejected file leaves no documents; the
second writes (see `worker.writers`), from the documents the first pass kept when the file
is small enough.

What need not wait runs beside what must: the Cosmos DB client connects (and reads the
container's properties) and this version's folder is marked in `results` while the file is
checked; the older versions are listed while the documents are written; the rejects file and
the summary go out together.

The cyclic garbage collector stays off from the check pass to the end of the writes when the
documents are kept (`worker.rows.CollectorPause`): they hold no cycles, and every full
collection in between would walk them all.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from worker.context import TaskContext, WorkerOutcome, same_etag
from worker.contract import REJECTS_FILE, SUMMARY_FILE
from worker.errors import InputVanished, RejectedInput
from worker.records import RecordStore
from worker.rows import CollectorPause, KeptDocuments, check_file
from worker.summary import REJECTED, SUCCEEDED, CsvTally, RejectsFile, csv_summary, encode_json
from worker.writers import write_all

log = logging.getLogger(__name__)


def run_csv(context: TaskContext, path: Path, rejection: RejectedInput | None) -> WorkerOutcome:
    """Check and load the CSV at `path` into documents (or reject it); the outcome."""
    with RejectsFile() as rejects:
        return _run(context, path, rejection, rejects)


def _run(
    context: TaskContext, path: Path, rejection: RejectedInput | None, rejects: RejectsFile
) -> WorkerOutcome:
    s = context.settings
    tally = CsvTally(s.csv.group_by)
    kept = KeptDocuments()
    with (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="beside") as beside,
        CollectorPause() as collector,
    ):
        connecting: Future[RecordStore] | None = None
        try:
            if rejection is not None:
                raise rejection
            connecting = beside.submit(
                RecordStore.connect, s, context.credentials, context.identity
            )
            marked = beside.submit(context.mark_started)
            with context.tasklog.phase("check"), open(path, "rb") as handle:
                check_file(handle, s.csv, s.file_key, context.source, tally, rejects, kept)
        except RejectedInput as e:
            _close_unused(connecting)
            reason = context.reason(e)
            log.warning("rejected: %s", reason)
            _write_outputs(context, tally, rejects, REJECTED, reason, documents=0)
            return WorkerOutcome(REJECTED, reason)
        except BaseException:
            _close_unused(connecting)
            raise
        if kept.items is None:
            # The write pass reads the file again: its garbage is collected as it goes.
            collector.resume()
        records = connecting.result()
        try:
            marked.result()
            return _write(context, path, tally, rejects, records, kept, beside, collector)
        finally:
            records.close()


def _close_unused(connecting: Future[RecordStore] | None) -> None:
    """Close the record store a rejected (or failed) run connected and did not use; why it
    could not connect does not matter then."""
    if connecting is None:
        return
    try:
        connecting.result().close()
    except Exception:
        log.debug("unused Cosmos DB connection", exc_info=True)


def _write(
    context: TaskContext,
    path: Path,
    tally: CsvTally,
    rejects: RejectsFile,
    records: RecordStore,
    kept: KeptDocuments,
    beside: ThreadPoolExecutor,
    collector: CollectorPause,
) -> WorkerOutcome:
    s = context.settings
    with context.tasklog.phase("write"):
        # Listed before the etag is checked again, so a version newer than that check is
        # never among those removed.
        listing = beside.submit(context.older_versions)
        processes = write_all(s, path, tally.good, records, kept.drained())
        collector.resume()
    with context.tasklog.phase("cleanup"):
        current = context.storage.current_etag(s.input_container, s.input_blob)
        if current is None or not same_etag(current, s.input_etag):
            # A newer version (or a deletion) won the race: leave no documents of ours behind.
            removed = records.delete_version(s.file_key)
            context.tasklog.counts["documents_removed_superseded"] = removed
            raise InputVanished(f"{s.input_container}/{s.input_blob} changed while processing")
        older = records.delete_versions(listing.result())
    context.tasklog.counts.update(
        {
            "rows": tally.rows,
            "documents": tally.good,
            "rejects": tally.rejects,
            "older_version_documents_deleted": older,
            "cosmos": records.stats.as_json(),
            "writer_processes": processes,
            "documents_per_second": round(
                tally.good / max(context.tasklog.timings.get("write", 0.0), 1e-3), 1
            ),
        }
    )
    log.info(
        "wrote %s documents (%s rows, %s rejects), removed %s of older versions",
        tally.good, tally.rows, tally.rejects, older,
    )  # fmt: skip
    _write_outputs(context, tally, rejects, SUCCEEDED, None, documents=tally.good)
    return WorkerOutcome(SUCCEEDED, None)


def _write_outputs(
    context: TaskContext,
    tally: CsvTally,
    rejects: RejectsFile,
    outcome: str,
    reason: str | None,
    documents: int,
) -> None:
    options = context.settings.csv
    summary = csv_summary(
        file_key=context.settings.file_key,
        source=context.source,
        outcome=outcome,
        reason=reason,
        tally=tally,
        documents=documents,
        settings_view={
            "encoding": options.encoding,
            "delimiter": options.delimiter,
            "id_column": options.id_column,
            "partition_by": options.partition_by,
            "latitude_column": options.latitude_column,
            "longitude_column": options.longitude_column,
            "numeric_columns": list(options.numeric_columns),
            "max_reject_ratio": options.max_reject_ratio,
        },
    )
    context.tasklog.outcome = outcome
    context.tasklog.reason = reason
    with (
        context.tasklog.phase("outputs"),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="outputs") as beside,
    ):
        rejects_put = beside.submit(context.put_result, REJECTS_FILE, rejects.stream(), "text/csv")
        context.put_result(SUMMARY_FILE, encode_json(summary), "application/json")
        rejects_put.result()

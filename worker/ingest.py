"""The csv route: rows to Cosmos DB documents, plus the summary and the rejects file.

Two passes over the downloaded file (see `worker.rows`): the first checks every row and
decides the outcome without writing anything, so a rejected file leaves no documents; the
second writes (see `worker.writers`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from worker.context import TaskContext, WorkerOutcome, same_etag
from worker.contract import REJECTS_FILE, SUMMARY_FILE
from worker.errors import InputVanished, RejectedInput
from worker.records import RecordStore
from worker.rows import check_file
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
    try:
        if rejection is not None:
            raise rejection
        with context.tasklog.phase("check"), open(path, "rb") as handle:
            check_file(handle, s.csv, s.file_key, context.source, tally, rejects)
    except RejectedInput as e:
        reason = context.reason(e)
        log.warning("rejected: %s", reason)
        _write_outputs(context, tally, rejects, REJECTED, reason, documents=0)
        return WorkerOutcome(REJECTED, reason)

    records = RecordStore.connect(context.settings, context.credentials, context.identity)
    try:
        return _write(context, path, tally, rejects, records)
    finally:
        records.close()


def _write(
    context: TaskContext, path: Path, tally: CsvTally, rejects: RejectsFile, records: RecordStore
) -> WorkerOutcome:
    s = context.settings
    context.mark_started()
    with context.tasklog.phase("write"):
        processes = write_all(s, path, tally.good, records)
    with context.tasklog.phase("cleanup"):
        current = context.storage.current_etag(s.input_container, s.input_blob)
        if current is None or not same_etag(current, s.input_etag):
            # A newer version (or a deletion) won the race: leave no documents of ours behind.
            removed = records.delete_version(s.file_key)
            context.tasklog.counts["documents_removed_superseded"] = removed
            raise InputVanished(f"{s.input_container}/{s.input_blob} changed while processing")
        older = records.delete_versions(context.older_versions())
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
    with context.tasklog.phase("outputs"):
        context.put_result(REJECTS_FILE, rejects.stream(), "text/csv")
        context.put_result(SUMMARY_FILE, encode_json(summary), "application/json")

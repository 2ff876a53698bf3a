"""The csv route: rows to Cosmos DB documents, plus the summary and the rejects file.

Two passes over the downloaded file: the first checks every row and decides the outcome
without writing anything, so a rejected file leaves no documents; the second writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from worker.document import Built, DocumentBuilder, Source
from worker.errors import InputVanished, RejectedInput
from worker.job import Context, Outcome, same_etag
from worker.settings import ID_COLUMN, MAX_REJECT_RATIO, PARTITION_BY, CsvOptions
from worker.summary import REJECTED, SUCCEEDED, CsvTally, RejectsFile, csv_summary, encode_json
from worker.table import BadRow, Row, Table

log = logging.getLogger(__name__)


def run_csv(context: Context, path: Path, rejection: RejectedInput | None) -> Outcome:
    with RejectsFile() as rejects:
        return _run(context, path, rejection, rejects)


def _run(
    context: Context, path: Path, rejection: RejectedInput | None, rejects: RejectsFile
) -> Outcome:
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
        return Outcome(REJECTED, reason)

    records = context.connect_records()
    with context.tasklog.phase("write"):
        records.upsert_all(_documents_of(context, path))
    with context.tasklog.phase("cleanup"):
        current = context.storage.current_etag(s.input_container, s.input_blob)
        if current is None or not same_etag(current, s.input_etag):
            # A newer version (or a deletion) won the race: leave no documents of ours behind.
            removed = records.delete_version(s.file_key)
            context.tasklog.counts["documents_removed_superseded"] = removed
            raise InputVanished(f"{s.input_container}/{s.input_blob} changed while processing")
        older = records.delete_other_versions(s.input_container, s.input_blob, s.file_key)
    context.tasklog.counts.update(
        {
            "rows": tally.rows,
            "documents": tally.good,
            "rejects": tally.rejects,
            "older_version_documents_deleted": older,
            "cosmos": records.stats.as_json(),
        }
    )
    log.info(
        "wrote %s documents (%s rows, %s rejects), removed %s of older versions",
        tally.good, tally.rows, tally.rejects, older,
    )  # fmt: skip
    _write_outputs(context, tally, rejects, SUCCEEDED, None, documents=tally.good)
    return Outcome(SUCCEEDED, None)


def _required_columns(options: CsvOptions) -> list[tuple[str, str]]:
    named = [(ID_COLUMN, options.id_column), (PARTITION_BY, options.partition_by)]
    return [(setting, column) for setting, column in named if column]


def _open_table(
    handle: IO[bytes], options: CsvOptions, file_key: str, source: Source
) -> tuple[Table, DocumentBuilder]:
    table = Table(handle, options)
    for setting, column in _required_columns(options):
        if column not in table.header:
            raise RejectedInput(f"no column {column!r} (named by {setting})", "header")
    return table, DocumentBuilder(table.header, options, file_key, source)


def _classified(table: Table, builder: DocumentBuilder) -> Iterator[Built | BadRow]:
    for item in table.rows():
        yield builder.build(item) if isinstance(item, Row) else item


def check_file(
    handle: IO[bytes],
    options: CsvOptions,
    file_key: str,
    source: Source,
    tally: CsvTally,
    rejects: RejectsFile,
) -> None:
    """The first pass: count and classify every row; raise RejectedInput for a bad file.

    `tally` and `rejects` hold what was seen so far even when the file is rejected.
    """
    table, builder = _open_table(handle, options, file_key, source)
    tally.columns = list(table.header)
    tally.has_group_column = builder.has_group_column
    for item in _classified(table, builder):
        if isinstance(item, BadRow):
            tally.add_bad(item)
            rejects.add(item)
        else:
            tally.add(item)
    limit = options.max_reject_ratio
    if tally.rows and tally.rejects / tally.rows > limit:
        first = tally.first_reject
        assert first is not None
        raise RejectedInput(
            f"{tally.rejects} of {tally.rows} rows are bad, more than the share"
            f" {limit:g} allowed by {MAX_REJECT_RATIO}; first: row {first.number}"
            f" (line {first.line}): {first.reason}"
        )


def documents(
    handle: IO[bytes], options: CsvOptions, file_key: str, source: Source
) -> Iterator[dict[str, Any]]:
    """The second pass: the documents of the good rows, in file order."""
    table, builder = _open_table(handle, options, file_key, source)
    for item in _classified(table, builder):
        if isinstance(item, Built):
            yield item.document


def _documents_of(context: Context, path: Path) -> Iterator[dict[str, Any]]:
    s = context.settings
    with open(path, "rb") as handle:
        yield from documents(handle, s.csv, s.file_key, context.source)


def _write_outputs(
    context: Context,
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
        context.put_result("rejects.csv", rejects.stream(), "text/csv")
        context.put_result("summary.json", encode_json(summary), "application/json")

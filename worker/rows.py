"""Rows of one CSV file, classified: the check pass and the document pass.

Both passes run the same deterministic code over the same bytes, so the second pass yields
exactly the good rows the first one counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from worker.contract import ID_COLUMN, MAX_REJECT_RATIO, PARTITION_BY
from worker.document import Built, DocumentBuilder, Source
from worker.errors import RejectedInput
from worker.options import CsvOptions
from worker.summary import CsvTally, RejectsFile
from worker.table import BadRow, Row, Table


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
    try:
        for item in table.rows():
            yield builder.build(item) if isinstance(item, Row) else item
    finally:
        builder.close()


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

"""Rows of one CSV file, classified: the check pass and the document pass.

Both passes run the same deterministic code over the same bytes, so the second pass yields
exactly the good rows the first one counted. A file small enough has its documents kept from
the first pass (`KeptDocuments`), and the second pass is not needed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import nullcontext
from typing import IO, Any

from worker.contract import ID_COLUMN, MAX_REJECT_RATIO, PARTITION_BY
from worker.document import Built, DocumentBuilder, Source
from worker.errors import RejectedInput
from worker.options import CsvOptions
from worker.summary import CsvTally, RejectsFile
from worker.table import BadRow, Table

# What the check pass keeps for the write pass, at most: rows, and their documents' size
# bounds in all (a bound is within a small factor of the document's size in memory).
MAX_KEPT_ROWS = 25_000
MAX_KEPT_BOUND_BYTES = 64_000_000

# A document and an upper bound of its size as the SDK sends it (see worker.batches).
Sized = tuple[dict[str, Any], int]


class KeptDocuments:
    """The good rows' documents from the check pass, kept for the write pass while they stay
    under MAX_KEPT_ROWS and MAX_KEPT_BOUND_BYTES; past either, nothing is kept (`items` is
    None) and the write pass reads the file again."""

    def __init__(
        self, max_rows: int = MAX_KEPT_ROWS, max_bytes: int = MAX_KEPT_BOUND_BYTES
    ) -> None:
        self.items: list[Sized] | None = []
        self._max_rows = max_rows
        self._bytes_left = max_bytes

    def add(self, built: Built) -> None:
        """Keep one good row's document, unless that passes a bound."""
        items = self.items
        if items is None:
            return
        bound = built.size_bound
        self._bytes_left -= bound
        if len(items) >= self._max_rows or self._bytes_left < 0:
            self.items = None
            return
        items.append((built.document, bound))

    def drained(self) -> Iterator[Sized] | None:
        """The kept documents in file order, each let go once taken, so that the write pass
        frees them batch by batch rather than all at its end; None when none are kept. They
        are no longer kept (`items` is None)."""
        items, self.items = self.items, None
        return None if items is None else _drain(items)


def _drain(items: list[Sized]) -> Iterator[Sized]:
    items.reverse()
    while items:
        yield items.pop()


class CollectorPause:
    """The cyclic garbage collector off while documents are kept: they hold no cycles
    (reference counting frees them), and each collection would walk them all again. It is
    on again at `resume` or at the end of the block, whichever comes first, if it was on
    before; a pause inside a pause changes nothing."""

    def __init__(self) -> None:
        self._was_enabled = False

    def __enter__(self) -> CollectorPause:
        self._was_enabled = gc.isenabled()
        gc.disable()
        return self

    def resume(self) -> None:
        """Turn the collector on again (if it was on before the pause)."""
        if self._was_enabled:
            self._was_enabled = False
            gc.enable()

    def __exit__(self, *exc: object) -> None:
        self.resume()


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
    build = builder.build_record
    try:
        for item in table.records():
            yield item if isinstance(item, BadRow) else build(*item)
    finally:
        builder.close()


def check_file(
    handle: IO[bytes],
    options: CsvOptions,
    file_key: str,
    source: Source,
    tally: CsvTally,
    rejects: RejectsFile,
    kept: KeptDocuments | None = None,
) -> None:
    """The first pass: count and classify every row; raise RejectedInput for a bad file.

    `tally` and `rejects` hold what was seen so far even when the file is rejected; `kept`,
    if given, the good rows' documents while they stay small.
    """
    table, builder = _open_table(handle, options, file_key, source)
    tally.columns = list(table.header)
    tally.has_group_column = builder.has_group_column
    build, add_good = builder.build_record, tally.add
    keep = kept.add if kept is not None else None
    with CollectorPause() if kept is not None else nullcontext():
        try:
            # `_classified`'s loop, inlined: it runs for every row.
            for record in table.records():
                item = record if isinstance(record, BadRow) else build(*record)
                if isinstance(item, BadRow):
                    tally.add_bad(item)
                    rejects.add(item)
                    continue
                add_good(item)
                if keep is not None:
                    keep(item)
        finally:
            builder.close()
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
    for document, _ in sized_documents(handle, options, file_key, source):
        yield document


def sized_documents(
    handle: IO[bytes], options: CsvOptions, file_key: str, source: Source
) -> Iterator[Sized]:
    """The second pass, each document with the upper bound of its size as sent."""
    table, builder = _open_table(handle, options, file_key, source)
    for item in _classified(table, builder):
        if isinstance(item, Built):
            yield item.document, item.size_bound

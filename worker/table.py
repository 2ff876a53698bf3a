"""Streaming CSV reading under limits: a header, then rows or bad rows, in file order.

Row numbers are 1-based data rows (the header and blank lines are not rows); `line` is the
physical line where the row starts, so an operator can find it in an editor. Rows are never
repaired or shifted: a row with the wrong number of fields is reported as bad.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from worker.contract import (
    CSV_ENCODING,
    CSV_MAX_COLUMNS,
    CSV_MAX_FIELD_CHARS,
    CSV_MAX_ROW_CHARS,
)
from worker.errors import RejectedInput
from worker.options import CsvOptions

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


@dataclass(frozen=True)
class Row:
    """One data row of the table: its number, line and values."""

    number: int
    line: int
    values: list[str]


@dataclass(frozen=True)
class BadRow:
    """One row that could not be read, and why."""

    number: int
    line: int
    reason: str
    values: tuple[str, ...] = ()


class _RowTooLong(Exception):
    pass


class _Undecodable(Exception):
    def __init__(self, byte: int) -> None:
        self.byte = byte


class _NotText(Exception):
    def __init__(self, column: int) -> None:
        self.column = column


# Undecodable bytes come through as lone surrogates (errors="surrogateescape"), so the row
# holding them is known exactly; the text codec would fail a whole 8 KiB chunk at once.
_SURROGATE = re.compile("[\udc80-\udcff]")


class Table:
    """One pass over a CSV byte stream. Construction reads and checks the header."""

    def __init__(self, stream: IO[bytes], options: CsvOptions) -> None:
        self._options = options
        self._text = _decoder(stream, options.encoding)
        self._lines_read = 0
        self._record_chars = 0
        # The field cap is process-wide in the csv module; the worker reads one file at a time.
        csv.field_size_limit(options.max_field_chars)
        self._reader = csv.reader(self._physical_lines(), delimiter=options.delimiter, strict=True)
        self.rows_read = 0
        self.header = self._read_header()

    def _physical_lines(self) -> Iterator[str]:
        limit = self._options.max_row_chars
        while True:
            line = self._text.readline(limit + 1)
            if not line:
                return
            self._lines_read += 1
            self._record_chars += len(line)
            if self._record_chars > limit:
                raise _RowTooLong()
            bad = _SURROGATE.search(line)
            if bad:
                raise _Undecodable(ord(bad.group()) - 0xDC00)
            nul = line.find("\x00")
            if nul >= 0:
                raise _NotText(nul + 1)
            yield line

    def _next_record(self, number: int) -> tuple[list[str] | str, int] | None:
        """The next non-blank record (or why it is malformed) and its first line; None at end."""
        while True:
            self._record_chars = 0
            start = self._lines_read + 1
            where = "header" if number == 0 else f"row {number} (line {start})"
            try:
                record = next(self._reader)
            except StopIteration:
                return None
            except _RowTooLong:
                raise RejectedInput(
                    f"longer than {self._options.max_row_chars} characters ({CSV_MAX_ROW_CHARS})",
                    where,
                ) from None
            except _Undecodable as e:
                raise RejectedInput(
                    f"not valid {self._options.encoding} (byte 0x{e.byte:02x}); set {CSV_ENCODING}"
                    " if the file uses another encoding",
                    where,
                ) from None
            except _NotText as e:
                raise RejectedInput(
                    f"a NUL byte (0x00) at character {e.column} of line {self._lines_read}:"
                    " the file is binary, not CSV text",
                    where,
                ) from None
            except csv.Error as e:
                message = str(e)
                if message.startswith("field larger than field limit"):
                    raise RejectedInput(
                        f"a field is longer than {self._options.max_field_chars} characters"
                        f" ({CSV_MAX_FIELD_CHARS})",
                        where,
                    ) from None
                if "unexpected end of data" in message:
                    raise RejectedInput(
                        "quoted field not closed before the end of the file", where
                    ) from None
                # Bad quoting inside one row: report that row and go on with the next line.
                return message, start
            if record:
                return record, start

    def _read_header(self) -> list[str]:
        first = self._next_record(0)
        if first is None:
            raise RejectedInput("file is empty (no header)")
        header, _ = first
        if isinstance(header, str):
            raise RejectedInput(f"malformed CSV: {header}", "header")
        if len(header) > self._options.max_columns:
            raise RejectedInput(
                f"{len(header)} columns, more than the limit of {self._options.max_columns}"
                f" ({CSV_MAX_COLUMNS})",
                "header",
            )
        seen: dict[str, int] = {}
        for index, name in enumerate(header, start=1):
            if name.strip() == "":
                raise RejectedInput(f"column {index} has no name", "header")
            if name in seen:
                raise RejectedInput(
                    f"duplicate column name {name!r} (columns {seen[name]} and {index})", "header"
                )
            seen[name] = index
        return header

    def rows(self) -> Iterator[Row | BadRow]:
        """Every row after the header, good or bad, in order."""
        width = len(self.header)
        while True:
            number = self.rows_read + 1
            record = self._next_record(number)
            if record is None:
                return
            self.rows_read = number
            values, line = record
            if isinstance(values, str):
                yield BadRow(number, line, f"malformed CSV: {values}")
            elif len(values) != width:
                reason = f"expected {width} fields, found {len(values)}"
                yield BadRow(number, line, reason, tuple(values))
            else:
                yield Row(number, line, values)


def _decoder(stream: IO[bytes], encoding: str) -> io.TextIOWrapper:
    buffered: io.BufferedReader = (
        stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)  # type: ignore[arg-type]
    )
    start = buffered.peek(4)[:4]
    is_utf8 = codecs.lookup(encoding).name == "utf-8"
    if is_utf8:
        for bom, name in _BOMS:
            if start.startswith(bom):
                raise RejectedInput(
                    f"file is {name} encoded (byte order mark); only UTF-8 is read unless"
                    f" {CSV_ENCODING} names the encoding"
                )
    return io.TextIOWrapper(
        buffered,
        encoding="utf-8-sig" if is_utf8 else encoding,
        errors="surrogateescape",
        newline="",
    )

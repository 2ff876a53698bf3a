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


# A row as wide as the header, as `Table.records` gives it: its number, line and values.
Record = tuple[int, int, list[str]]


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
    def __init__(self, column: int, line: int) -> None:
        self.column = column
        self.line = line


# Undecodable bytes come through as lone surrogates (errors="surrogateescape"), so the row
# holding them is known exactly; the text codec would fail a whole 8 KiB chunk at once.
_SURROGATE = re.compile("[\udc80-\udcff]")
# What `_check_text` looks for, in a whole chunk at once: most chunks hold neither.
_NOT_TEXT = re.compile("[\x00\udc80-\udcff]")
# A line as a text stream with newline="" reads it: up to LF, CR LF or CR, or the end.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# Text read at once, then cut into lines (the last line is read to its end).
_CHUNK_CHARS = 64 * 1024


class Table:
    """One pass over a CSV byte stream. Construction reads and checks the header."""

    def __init__(self, stream: IO[bytes], options: CsvOptions) -> None:
        self._options = options
        self._text = _decoder(stream, options.encoding)
        self._carry = ""
        # Characters of the lines handed to the csv reader so far, and the most the record
        # being read may reach (see `_physical_lines`).
        self._chars_read = 0
        self._record_end = options.max_row_chars
        # The field cap is process-wide in the csv module; the worker reads one file at a time.
        csv.field_size_limit(options.max_field_chars)
        self._reader = csv.reader(self._physical_lines(), delimiter=options.delimiter, strict=True)
        self.rows_read = 0
        self.header = self._read_header()

    def _chunk(self) -> str:
        """The next whole lines of text (a line's first `max_row_chars` + 1 characters at
        most, for a longer one), or "" at the end. A CR at the end waits for the next
        character: CR LF is one line end."""
        text = self._text
        chunk = self._carry + text.read(_CHUNK_CHARS)
        self._carry = ""
        if not chunk or chunk[-1] == "\n":
            return chunk
        if chunk[-1] == "\r":
            following = text.read(1)
            if following == "\n":
                return chunk + following
            self._carry = following
            return chunk
        return chunk + text.readline(self._options.max_row_chars + 1)

    def _physical_lines(self) -> Iterator[str]:
        chars = 0
        while True:
            chunk = self._chunk()
            if not chunk:
                return
            clean = _NOT_TEXT.search(chunk) is None
            for line in _LINE.findall(chunk):
                chars += len(line)
                if chars > self._record_end:
                    raise _RowTooLong()
                if not clean:
                    self._check_text(line)
                self._chars_read = chars
                yield line

    def _check_text(self, line: str) -> None:
        bad = _SURROGATE.search(line)
        if bad:
            raise _Undecodable(ord(bad.group()) - 0xDC00)
        nul = line.find("\x00")
        if nul >= 0:
            # The csv reader counts a line once it has it: this one is the next.
            raise _NotText(nul + 1, self._reader.line_num + 1)

    def _start_record(self) -> int:
        """Reset the record's character budget; the line the record starts on."""
        self._record_end = self._chars_read + self._options.max_row_chars
        return self._reader.line_num + 1

    def _next_record(self, number: int) -> tuple[list[str] | str, int] | None:
        """The next non-blank record (or why it is malformed) and its first line; None at end."""
        while True:
            start = self._start_record()
            try:
                record = next(self._reader)
            except StopIteration:
                return None
            except (_RowTooLong, _Undecodable, _NotText, csv.Error) as e:
                return self._malformed(e, number, start), start
            if record:
                return record, start

    def _malformed(self, error: Exception, number: int, start: int) -> str:
        """Why a record is malformed, when that is the row's problem (bad quoting); raises
        RejectedInput naming the row when it is the file's."""
        where = "header" if number == 0 else f"row {number} (line {start})"
        if isinstance(error, _RowTooLong):
            raise RejectedInput(
                f"longer than {self._options.max_row_chars} characters ({CSV_MAX_ROW_CHARS})",
                where,
            ) from None
        if isinstance(error, _Undecodable):
            raise RejectedInput(
                f"not valid {self._options.encoding} (byte 0x{error.byte:02x}); set"
                f" {CSV_ENCODING} if the file uses another encoding",
                where,
            ) from None
        if isinstance(error, _NotText):
            raise RejectedInput(
                f"a NUL byte (0x00) at character {error.column} of line {error.line}:"
                " the file is binary, not CSV text",
                where,
            ) from None
        message = str(error)
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
        return message

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

    def records(self) -> Iterator[Record | BadRow]:
        """Every row after the header, in order: (number, line, values) for a row as wide as
        the header, a BadRow for any other."""
        width = len(self.header)
        reader = self._reader
        limit = self._options.max_row_chars
        number = self.rows_read
        while True:
            self._record_end = self._chars_read + limit
            start = reader.line_num + 1
            try:
                values: list[str] | str = next(reader)
            except StopIteration:
                return
            except (_RowTooLong, _Undecodable, _NotText, csv.Error) as e:
                values = self._malformed(e, number + 1, start)
            if not values:
                continue
            number += 1
            self.rows_read = number
            if isinstance(values, str):
                yield BadRow(number, start, f"malformed CSV: {values}")
            elif len(values) == width:
                yield number, start, values
            else:
                reason = f"expected {width} fields, found {len(values)}"
                yield BadRow(number, start, reason, tuple(values))

    def rows(self) -> Iterator[Row | BadRow]:
        """Every row after the header, good or bad, in order."""
        for item in self.records():
            yield item if isinstance(item, BadRow) else Row(*item)


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

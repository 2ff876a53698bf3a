"""Cosmos DB documents made from CSV rows, and the facts the summary needs about each row.

Document id = sha256("<file key>/<row key>") in hex, where the row key is `row:<number>` or,
with DROPBATCH_ID_COLUMN set, `id:<that column's value>`. Re-running a file therefore writes
the same ids (upserts overwrite); a replaced file (new etag) has a new file key.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from worker.options import CsvOptions
from worker.table import BadRow, Row

if TYPE_CHECKING:
    import sqlite3  # imported when a file has that many ids (FirstRows)

SCHEMA_VERSION = 1

# Cosmos DB refuses items over 2 MB; the limit leaves room for the system properties.
MAX_DOCUMENT_BYTES = 2_000_000
# Rows shorter than this cannot come near the limit, so they are not measured.
_SIZE_CHECK_CHARS = 100_000
# The most bytes one character of a string takes in the SDK's JSON (ASCII with escapes): a
# character outside the Basic Multilingual Plane becomes a surrogate pair, \ud83d\ude00.
_MAX_BYTES_PER_CHAR = 12
# A row's text is in a document twice at most (in `values`, and as `pk`).
_ROW_CHAR_BYTES = 2 * _MAX_BYTES_PER_CHAR
# Generous room for a number (repr of a float or an int), a field's quotes, colon and comma.
_NUMBER_BYTES = 32
_FIELD_BYTES = 8


@dataclass(frozen=True)
class Source:
    """The input blob version a document came from."""

    container: str
    name: str
    etag: str

    def as_json(self) -> dict[str, str]:
        """The source as JSON-ready values."""
        return {"container": self.container, "name": self.name, "etag": self.etag}


class Built(NamedTuple):
    """A row turned into a document, with what the summary counts about it (a named tuple:
    one is made for every row)."""

    document: dict[str, Any]
    invalid_numbers: tuple[str, ...]
    latitude: float | None
    longitude: float | None
    group: str | None
    # At least the bytes the document takes in a batch request as the SDK sends it (see
    # `DocumentBuilder.size_bound`); a cheap bound, so that small documents are not encoded
    # once more only to be measured.
    size_bound: int = 0


def document_id(file_key: str, row_key: str) -> str:
    """The id of a row's document: the same file version and row key always give the same id."""
    return hashlib.sha256(f"{file_key}/{row_key}".encode()).hexdigest()


class FirstRows:
    """The first row number of each id seen. Held in memory up to `SPILL_AFTER` ids, then in
    a private temporary SQLite file (removed on close), so memory stays flat however many
    rows a file has."""

    SPILL_AFTER = 100_000

    def __init__(self) -> None:
        self._memory: dict[str, int] | None = {}
        self._db: sqlite3.Connection | None = None

    def setdefault(self, key: str, row: int) -> int:
        """The row where `key` was first seen, recording `row` if it is new."""
        if self._memory is not None:
            first = self._memory.setdefault(key, row)
            if len(self._memory) > self.SPILL_AFTER:
                self._spill(self._memory)
            return first
        assert self._db is not None
        cursor = self._db.execute("INSERT OR IGNORE INTO first VALUES (?, ?)", (key, row))
        if cursor.rowcount == 1:
            return row
        found = self._db.execute("SELECT row FROM first WHERE key = ?", (key,)).fetchone()
        return int(found[0])

    def _spill(self, memory: dict[str, int]) -> None:
        import sqlite3

        # "" opens a private temporary database file.
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE first (key TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID")
        self._db.executemany("INSERT INTO first VALUES (?, ?)", memory.items())
        self._memory = None

    def close(self) -> None:
        """Close the on-disk index of first rows."""
        if self._db is not None:
            self._db.close()


class DocumentBuilder:
    """Turns rows of one file into documents; one instance per pass over the file."""

    def __init__(
        self, header: list[str], options: CsvOptions, file_key: str, source: Source
    ) -> None:
        self._header = header
        self._index = {name: i for i, name in enumerate(header)}
        self._options = options
        self._file_key = file_key
        self._source = source.as_json()
        numeric = [options.latitude_column, options.longitude_column, *options.numeric_columns]
        # Each numeric column with the values it may hold: other columns are bounded by the
        # largest finite float, so that one comparison also turns away infinity.
        self._numeric = [
            (name, self._index[name], *_bounds(name, options))
            for name in dict.fromkeys(numeric)
            if name in self._index
        ]
        self._lat = self._index.get(options.latitude_column)
        self._lng = self._index.get(options.longitude_column)
        self._group = self._index.get(options.group_by) if options.group_by else None
        self._id = self._index.get(options.id_column) if options.id_column else None
        self._partition = self._index.get(options.partition_by) if options.partition_by else None
        self._first_row_of_id = FirstRows() if self._id is not None else None
        # Every id hashes the file key first: that part of the digest is computed once.
        self._id_digest = hashlib.sha256(f"{file_key}/".encode())
        self._fixed_bytes = self._skeleton_bytes(header, source)
        # build_record(number, line, values): the document of row `number` (starting on
        # `line`), or why the row is bad; `build` for a Row.
        self.build_record = self._record_builder()

    def _skeleton_bytes(self, header: list[str], source: Source) -> int:
        """A bound on every part of a document but its row's own text: the constant fields
        as sent, each column name (in `values` and maybe `numbers`), numbers and a point."""
        skeleton = {
            "id": "0" * 64,
            "pk": self._file_key,
            "schema_version": SCHEMA_VERSION,
            "file_key": self._file_key,
            "source": self._source,
            "row": 0,
            "values": {},
            "numbers": {},
            "location": {"type": "Point", "coordinates": []},
        }
        names = sum(len(name) for name in header)
        return (
            len(json.dumps(skeleton))
            + 2 * _MAX_BYTES_PER_CHAR * names
            + (2 * _FIELD_BYTES + _NUMBER_BYTES) * (len(header) + 3)
        )

    def size_bound(self, row_chars: int) -> int:
        """At least the bytes a document of a row of `row_chars` characters takes as the SDK
        sends it: its text twice at most (in `values`, and as `pk`), every character of it
        escaped at worst, plus the rest (`_skeleton_bytes`)."""
        return self._fixed_bytes + _ROW_CHAR_BYTES * row_chars

    def close(self) -> None:
        """Release what the builder keeps on disk."""
        if self._first_row_of_id is not None:
            self._first_row_of_id.close()

    @property
    def has_group_column(self) -> bool:
        """Whether the file has the column that rows are grouped by."""
        return self._group is not None

    def build(self, row: Row) -> Built | BadRow:
        """The row's document, or why the row is bad."""
        return self.build_record(row.number, row.line, row.values)

    def _record_builder(self) -> Callable[[int, int, list[str]], Built | BadRow]:
        """`build_record`: a closure over what every row shares: it runs for every
        row, and locals are the cheapest names to look up."""
        id_digest, row_key = self._id_digest, self._row_key if self._id is not None else None
        numeric, header, file_key, source = (
            self._numeric,
            self._header,
            self._file_key,
            self._source,
        )
        lat_name = self._options.latitude_column if self._lat is not None else None
        lng_name = self._options.longitude_column if self._lng is not None else None
        partition, group_index, fixed_bytes = self._partition, self._group, self._fixed_bytes

        def build(number: int, line: int, values: list[str]) -> Built | BadRow:
            digest = id_digest.copy()
            if row_key is None:
                digest.update(b"row:%d" % number)
            else:
                key = row_key(number, line, values)
                if isinstance(key, BadRow):
                    return key
                digest.update(key.encode())
            numbers: dict[str, float] = {}
            invalid: tuple[str, ...] = ()
            for name, index, low, high in numeric:
                text = values[index].strip()
                if not text:
                    continue
                try:
                    value = float(text)
                except ValueError:
                    invalid += (name,)
                    continue
                # A number is a plain decimal: what float() takes beyond that is "_"
                # between digits, which is refused, and infinity and NaN (also what
                # overflows to infinity), which are outside every column's bounds.
                if low <= value <= high and "_" not in text:
                    numbers[name] = value
                else:
                    invalid += (name,)
            latitude = numbers.get(lat_name) if lat_name is not None else None
            longitude = numbers.get(lng_name) if lng_name is not None else None
            document: dict[str, Any] = {
                "id": digest.hexdigest(),
                "pk": values[partition] if partition is not None else file_key,
                "schema_version": SCHEMA_VERSION,
                "file_key": file_key,
                "source": source,
                "row": number,
                # As many values as names: the table gives no other row.
                "values": dict(zip(header, values, strict=False)),
                "numbers": numbers,
            }
            if latitude is not None and longitude is not None:
                document["location"] = {"type": "Point", "coordinates": [longitude, latitude]}
            row_chars = sum(map(len, values))
            if row_chars > _SIZE_CHECK_CHARS and _encoded_size(document) > MAX_DOCUMENT_BYTES:
                reason = f"document would exceed Cosmos DB's limit of {MAX_DOCUMENT_BYTES} bytes"
                return BadRow(number, line, reason, ())
            group = values[group_index] if group_index is not None else None
            bound = fixed_bytes + _ROW_CHAR_BYTES * row_chars
            return Built(document, invalid, latitude, longitude, group, bound)

        return build

    def _row_key(self, number: int, line: int, values: list[str]) -> str | BadRow:
        """`id:<value>` for a row with DROPBATCH_ID_COLUMN set, or why the row is bad (a blank
        or a duplicate id)."""
        assert self._id is not None and self._first_row_of_id is not None
        key = values[self._id]
        if key.strip() == "":
            return BadRow(number, line, f"empty {self._options.id_column}", tuple(values))
        first = self._first_row_of_id.setdefault(key, number)
        if first != number:
            reason = f"duplicate {self._options.id_column} (first at row {first})"
            return BadRow(number, line, reason, tuple(values))
        return f"id:{key}"


def _bounds(name: str, options: CsvOptions) -> tuple[float, float]:
    """The values a numeric column may hold: coordinates within their range, any other
    number finite."""
    if name == options.latitude_column:
        return -90.0, 90.0
    if name == options.longitude_column:
        return -180.0, 180.0
    return -sys.float_info.max, sys.float_info.max


def _encoded_size(document: dict[str, Any]) -> int:
    return len(json.dumps(document, ensure_ascii=False).encode())

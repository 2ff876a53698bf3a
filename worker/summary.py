"""Per-file results: the summary document and the rejects file, both deterministic.

Nothing here depends on time or timing, so a re-run writes byte-identical blobs; timings go
to the task log instead.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

from worker.document import Built, Source
from worker.table import BadRow

SCHEMA_VERSION = 1
SUCCEEDED = "succeeded"
REJECTED = "rejected"

# Spreadsheet programs run cells that start with these as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(text: str) -> str:
    """Neutralise spreadsheet formula injection by prefixing a quote."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def encode_json(document: dict[str, Any]) -> bytes:
    """A summary document as stable, readable JSON bytes."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


class ExactSum:
    """An exactly rounded running sum in bounded memory.

    Values wait in a short list; a full list is folded into a few floats whose sum is exactly
    the sum so far (each the correctly rounded rest, which math.fsum gives). That is
    Shewchuk's partials, as fsum keeps them, computed in C for a list at a time rather than
    in Python for each value.
    """

    FOLD_AT = 1024

    def __init__(self) -> None:
        self._values: list[float] = []

    def add(self, x: float) -> None:
        """Add `x` with no rounding error."""
        values = self._values
        values.append(x)
        if len(values) >= self.FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        values = self._values
        rest = math.fsum(values)
        partials = [rest]
        # Each step takes the rounded rest out, exactly: the rest shrinks by 2**-53 or more a
        # step, and ends at 0 (a sum of floats is a multiple of the smallest one).
        while rest:
            values.append(-rest)
            rest = math.fsum(values)
            if rest:
                partials.append(rest)
        self._values = partials

    def value(self) -> float:
        """The exact sum, correctly rounded."""
        return math.fsum(self._values)


@dataclass
class _Group:
    count: int = 0
    points: int = 0
    latitude: ExactSum = field(default_factory=ExactSum)
    longitude: ExactSum = field(default_factory=ExactSum)

    def as_json(self) -> dict[str, Any]:
        n = self.points
        return {
            "count": self.count,
            "coordinates": n,
            "mean_latitude": self.latitude.value() / n if n else None,
            "mean_longitude": self.longitude.value() / n if n else None,
        }


class RejectsFile:
    """Bad rows as CSV: row, line, reason, then the row's original fields; spooled to disk
    past 1 MiB. Every cell is escaped against formula injection."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
        self._text = io.TextIOWrapper(self._file, encoding="utf-8", newline="")
        self._writer = csv.writer(self._text, lineterminator="\r\n")
        self._writer.writerow(["row", "line", "reason", "fields"])

    def add(self, bad: BadRow) -> None:
        """Append one bad row, its reason first."""
        cells = [escape_cell(text) for text in (bad.reason, *bad.values)]
        self._writer.writerow([bad.number, bad.line, *cells])

    def stream(self) -> IO[bytes]:
        """The finished file, positioned at its start."""
        self._text.flush()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        """Close the file."""
        self._text.close()

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CsvTally:
    """Counts for the summary, fed one row at a time."""

    def __init__(self, group_by: str | None) -> None:
        self.group_by = group_by
        self.has_group_column = False
        self.columns: list[str] = []
        self.good = 0
        self.rejects = 0
        self.rows_without_coordinates = 0
        self.invalid_numbers: Counter[str] = Counter()
        self.first_reject: BadRow | None = None
        self._groups: dict[str, _Group] = {}

    def add(self, built: Built) -> None:
        """Count a good row and what it holds."""
        self.good += 1
        _, invalid, latitude, longitude, group_name, _ = built
        if invalid:
            self.invalid_numbers.update(invalid)
        if latitude is None or longitude is None:
            self.rows_without_coordinates += 1
            if group_name is not None:
                self._group(group_name).count += 1
        elif group_name is not None:
            group = self._group(group_name)
            group.count += 1
            group.points += 1
            group.latitude.add(latitude)
            group.longitude.add(longitude)

    def _group(self, name: str) -> _Group:
        group = self._groups.get(name)
        if group is None:
            group = self._groups[name] = _Group()
        return group

    @property
    def rows(self) -> int:
        """The rows counted, good and bad."""
        return self.good + self.rejects

    def add_bad(self, bad: BadRow) -> None:
        """Count a bad row (the first is kept for the reason)."""
        self.rejects += 1
        if self.first_reject is None:
            self.first_reject = bad

    def groups_json(self) -> dict[str, Any] | None:
        """The per-group figures; None when the file has no group column."""
        if not self.has_group_column:
            return None
        return {name: self._groups[name].as_json() for name in sorted(self._groups)}


def csv_summary(
    *,
    file_key: str,
    source: Source,
    outcome: str,
    reason: str | None,
    tally: CsvTally,
    documents: int,
    settings_view: dict[str, Any],
) -> dict[str, Any]:
    """The summary document of a CSV run."""
    return {
        "schema_version": SCHEMA_VERSION,
        "file_key": file_key,
        "source": source.as_json(),
        "route": "csv",
        "outcome": outcome,
        "reason": reason,
        "columns": tally.columns,
        "rows": tally.rows,
        "documents": documents,
        "rejects": tally.rejects,
        "rows_without_coordinates": tally.rows_without_coordinates,
        "invalid_numbers": dict(sorted(tally.invalid_numbers.items())),
        "group_by": tally.group_by,
        "groups": tally.groups_json(),
        "options": settings_view,
    }


@dataclass(frozen=True)
class Child:
    """One file extracted from a zip: its entry, blob and size."""

    entry: str
    blob: str
    bytes: int


@dataclass(frozen=True)
class Skipped:
    """One zip entry not extracted, and why."""

    entry: str
    reason: str


def zip_summary(
    *,
    file_key: str,
    source: Source,
    outcome: str,
    reason: str | None,
    entries: int,
    children: list[Child],
    skipped: list[Skipped],
) -> dict[str, Any]:
    """The summary document of a zip run."""
    return {
        "schema_version": SCHEMA_VERSION,
        "file_key": file_key,
        "source": source.as_json(),
        "route": "zip",
        "outcome": outcome,
        "reason": reason,
        "entries": entries,
        "children": [{"entry": c.entry, "blob": c.blob, "bytes": c.bytes} for c in children],
        "skipped": [{"entry": s.entry, "reason": s.reason} for s in skipped],
    }

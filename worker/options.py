"""The worker's options, grouped by what they steer: reading CSV, reading zips, writing.

Their defaults live here; `worker.settings` fills them in from the task environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class CsvOptions:
    """How CSV files are read and turned into documents."""

    encoding: str = "utf-8"
    delimiter: str = ","
    max_field_chars: int = 64 * KiB
    max_row_chars: int = 1 * MiB
    max_columns: int = 256
    max_reject_ratio: float = 0.1
    id_column: str | None = None
    partition_by: str | None = None
    group_by: str | None = "state_abbrv"
    latitude_column: str = "latitude"
    longitude_column: str = "longitude"
    numeric_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ZipLimits:
    """Caps applied while reading an archive; bytes are counted as read, never from headers."""

    max_entries: int = 10_000
    max_entry_bytes: int = 2 * GiB
    max_total_bytes: int = 4 * GiB
    max_ratio: float = 200.0


@dataclass(frozen=True)
class WriteOptions:
    """How documents are written to Cosmos DB."""

    concurrency: int = 16
    # The SDK spends ~3 ms of CPU per request under the GIL, so one process tops out at a few
    # hundred upserts a second whatever its thread count; big files fan out to processes.
    processes: int = field(default_factory=lambda: min(os.cpu_count() or 1, 8))
    max_attempts: int = 10
    throttle_budget_seconds: float = 300.0

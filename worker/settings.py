"""The worker's settings, read once from the task environment.

Only non-secret values live in the environment (Batch task settings are readable by anyone
who can read the Batch account); secrets come from the node's credentials file
(see `worker.credentials`).
"""

from __future__ import annotations

import codecs
import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from worker.errors import ConfigurationError

ROUTE = "DROPBATCH_ROUTE"
FILE_KEY = "DROPBATCH_FILE_KEY"
INPUT_CONTAINER = "DROPBATCH_INPUT_CONTAINER"
INPUT_BLOB = "DROPBATCH_INPUT_BLOB"
INPUT_ETAG = "DROPBATCH_INPUT_ETAG"
BLOB_ENDPOINT = "DROPBATCH_BLOB_ENDPOINT"
COSMOS_ENDPOINT = "DROPBATCH_COSMOS_ENDPOINT"
COSMOS_DATABASE = "DROPBATCH_COSMOS_DATABASE"
COSMOS_RECORDS_CONTAINER = "DROPBATCH_COSMOS_RECORDS_CONTAINER"
CONTAINER_INCOMING = "DROPBATCH_CONTAINER_INCOMING"
CONTAINER_RESULTS = "DROPBATCH_CONTAINER_RESULTS"
CONTAINER_LOGS = "DROPBATCH_CONTAINER_LOGS"
IDENTITY_CLIENT_ID = "DROPBATCH_WORKER_IDENTITY_CLIENT_ID"
ID_COLUMN = "DROPBATCH_ID_COLUMN"
PARTITION_BY = "DROPBATCH_PARTITION_BY"
GROUP_BY = "DROPBATCH_GROUP_BY"
LATITUDE_COLUMN = "DROPBATCH_LATITUDE_COLUMN"
LONGITUDE_COLUMN = "DROPBATCH_LONGITUDE_COLUMN"
NUMERIC_COLUMNS = "DROPBATCH_NUMERIC_COLUMNS"
CSV_ENCODING = "DROPBATCH_CSV_ENCODING"
CSV_DELIMITER = "DROPBATCH_CSV_DELIMITER"
CSV_MAX_FIELD_CHARS = "DROPBATCH_CSV_MAX_FIELD_CHARS"
CSV_MAX_ROW_CHARS = "DROPBATCH_CSV_MAX_ROW_CHARS"
CSV_MAX_COLUMNS = "DROPBATCH_CSV_MAX_COLUMNS"
MAX_REJECT_RATIO = "DROPBATCH_MAX_REJECT_RATIO"
MAX_INPUT_BYTES = "DROPBATCH_MAX_INPUT_BYTES"
ZIP_MAX_ENTRIES = "DROPBATCH_ZIP_MAX_ENTRIES"
ZIP_MAX_ENTRY_BYTES = "DROPBATCH_ZIP_MAX_ENTRY_BYTES"
ZIP_MAX_TOTAL_BYTES = "DROPBATCH_ZIP_MAX_TOTAL_BYTES"
ZIP_MAX_RATIO = "DROPBATCH_ZIP_MAX_RATIO"
COSMOS_CONCURRENCY = "DROPBATCH_COSMOS_CONCURRENCY"
COSMOS_PROCESSES = "DROPBATCH_COSMOS_PROCESSES"
COSMOS_MAX_ATTEMPTS = "DROPBATCH_COSMOS_MAX_ATTEMPTS"
COSMOS_THROTTLE_BUDGET_SECONDS = "DROPBATCH_COSMOS_THROTTLE_BUDGET_SECONDS"
SERVICE_RETRIES = "DROPBATCH_SERVICE_RETRIES"
SERVICE_RETRY_BACKOFF_SECONDS = "DROPBATCH_SERVICE_RETRY_BACKOFF_SECONDS"
BATCH_SHARED_DIR = "AZ_BATCH_NODE_SHARED_DIR"
BATCH_WORKING_DIR = "AZ_BATCH_TASK_WORKING_DIR"
BATCH_TASK_ID = "AZ_BATCH_TASK_ID"
BATCH_JOB_ID = "AZ_BATCH_JOB_ID"

ATTEMPT = "DROPBATCH_ATTEMPT"

# The function app passes its `DROPBATCH_WORKER_*` settings through to every task, so each
# option below may also be given as DROPBATCH_WORKER_<name> (e.g. DROPBATCH_WORKER_ID_COLUMN).
OPTION_NAMES = (
    ID_COLUMN,
    PARTITION_BY,
    GROUP_BY,
    LATITUDE_COLUMN,
    LONGITUDE_COLUMN,
    NUMERIC_COLUMNS,
    CSV_ENCODING,
    CSV_DELIMITER,
    CSV_MAX_FIELD_CHARS,
    CSV_MAX_ROW_CHARS,
    CSV_MAX_COLUMNS,
    MAX_REJECT_RATIO,
    MAX_INPUT_BYTES,
    ZIP_MAX_ENTRIES,
    ZIP_MAX_ENTRY_BYTES,
    ZIP_MAX_TOTAL_BYTES,
    ZIP_MAX_RATIO,
    COSMOS_CONCURRENCY,
    COSMOS_PROCESSES,
    COSMOS_MAX_ATTEMPTS,
    COSMOS_THROTTLE_BUDGET_SECONDS,
    SERVICE_RETRIES,
    SERVICE_RETRY_BACKOFF_SECONDS,
)
PASSTHROUGH_PREFIX = "DROPBATCH_WORKER_"


def passthrough_name(name: str) -> str:
    return PASSTHROUGH_PREFIX + name.removeprefix("DROPBATCH_")


CREDENTIALS_RELATIVE_PATH = Path("dropbatch") / "credentials.json"

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

_FILE_KEY_RE = re.compile(r"[0-9a-f]{8,128}")


class Route(enum.StrEnum):
    CSV = "csv"
    ZIP = "zip"


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


@dataclass(frozen=True)
class Settings:
    route: Route
    file_key: str
    input_container: str
    input_blob: str
    input_etag: str
    blob_endpoint: str
    cosmos_endpoint: str | None
    cosmos_database: str
    records_container: str
    container_incoming: str
    container_results: str
    container_logs: str
    identity_client_id: str | None
    shared_dir: Path | None
    working_dir: Path
    task_id: str | None
    job_id: str | None
    attempt: str | None
    csv: CsvOptions
    zip: ZipLimits
    writes: WriteOptions
    max_input_bytes: int
    service_retries: int
    service_retry_backoff_seconds: float
    names_used: tuple[str, ...]

    @property
    def credentials_path(self) -> Path | None:
        return self.shared_dir / CREDENTIALS_RELATIVE_PATH if self.shared_dir else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build the settings; a missing or malformed one raises ConfigurationError naming it."""
        env = _Reader(environ)
        route_text = env.required(ROUTE)
        try:
            route = Route(route_text)
        except ValueError:
            raise ConfigurationError(ROUTE, "must be 'csv' or 'zip'") from None
        file_key = env.required(FILE_KEY)
        if not _FILE_KEY_RE.fullmatch(file_key):
            raise ConfigurationError(FILE_KEY, "must be 8 to 128 lowercase hex characters")
        csv_defaults = CsvOptions()
        encoding = env.text(CSV_ENCODING, csv_defaults.encoding)
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigurationError(CSV_ENCODING, "not an encoding Python knows") from None
        delimiter = env.text(CSV_DELIMITER, csv_defaults.delimiter)
        if len(delimiter) != 1 or delimiter in '\r\n"':
            raise ConfigurationError(CSV_DELIMITER, "must be one character, not a quote or newline")
        csv_options = CsvOptions(
            encoding=encoding,
            delimiter=delimiter,
            max_field_chars=env.integer(CSV_MAX_FIELD_CHARS, csv_defaults.max_field_chars),
            max_row_chars=env.integer(CSV_MAX_ROW_CHARS, csv_defaults.max_row_chars),
            max_columns=env.integer(CSV_MAX_COLUMNS, csv_defaults.max_columns),
            max_reject_ratio=env.ratio(MAX_REJECT_RATIO, csv_defaults.max_reject_ratio),
            id_column=env.optional(ID_COLUMN),
            partition_by=env.optional(PARTITION_BY),
            group_by=env.optional(GROUP_BY, csv_defaults.group_by),
            latitude_column=env.text(LATITUDE_COLUMN, csv_defaults.latitude_column),
            longitude_column=env.text(LONGITUDE_COLUMN, csv_defaults.longitude_column),
            numeric_columns=env.names(NUMERIC_COLUMNS),
        )
        zip_defaults = ZipLimits()
        zip_limits = ZipLimits(
            max_entries=env.integer(ZIP_MAX_ENTRIES, zip_defaults.max_entries),
            max_entry_bytes=env.integer(ZIP_MAX_ENTRY_BYTES, zip_defaults.max_entry_bytes),
            max_total_bytes=env.integer(ZIP_MAX_TOTAL_BYTES, zip_defaults.max_total_bytes),
            max_ratio=env.number(ZIP_MAX_RATIO, zip_defaults.max_ratio, minimum=1.0),
        )
        write_defaults = WriteOptions()
        writes = WriteOptions(
            concurrency=env.integer(COSMOS_CONCURRENCY, write_defaults.concurrency),
            processes=env.integer(COSMOS_PROCESSES, write_defaults.processes),
            max_attempts=env.integer(COSMOS_MAX_ATTEMPTS, write_defaults.max_attempts),
            throttle_budget_seconds=env.number(
                COSMOS_THROTTLE_BUDGET_SECONDS, write_defaults.throttle_budget_seconds
            ),
        )
        shared = env.optional(BATCH_SHARED_DIR)
        working = env.optional(BATCH_WORKING_DIR)
        settings = cls(
            route=route,
            file_key=file_key,
            input_container=env.required(INPUT_CONTAINER),
            input_blob=env.required(INPUT_BLOB),
            input_etag=env.required(INPUT_ETAG),
            blob_endpoint=env.endpoint(BLOB_ENDPOINT, required=True) or "",
            cosmos_endpoint=env.endpoint(COSMOS_ENDPOINT, required=route is Route.CSV),
            cosmos_database=env.text(COSMOS_DATABASE, "dropbatch"),
            records_container=env.text(COSMOS_RECORDS_CONTAINER, "records"),
            container_incoming=env.text(CONTAINER_INCOMING, "incoming"),
            container_results=env.text(CONTAINER_RESULTS, "results"),
            container_logs=env.text(CONTAINER_LOGS, "logs"),
            identity_client_id=env.optional(IDENTITY_CLIENT_ID),
            shared_dir=Path(shared) if shared else None,
            working_dir=Path(working) if working else Path(os.getcwd()),
            task_id=env.optional(BATCH_TASK_ID),
            job_id=env.optional(BATCH_JOB_ID),
            attempt=env.optional(ATTEMPT),
            csv=csv_options,
            zip=zip_limits,
            writes=writes,
            max_input_bytes=env.integer(MAX_INPUT_BYTES, 2 * GiB),
            service_retries=env.integer(SERVICE_RETRIES, 3, minimum=0),
            service_retry_backoff_seconds=env.number(
                SERVICE_RETRY_BACKOFF_SECONDS, 1.0, minimum=0.0
            ),
            names_used=(),
        )
        return replace(settings, names_used=tuple(sorted(set(env.names_read))))


class _Reader:
    """Reads settings from a mapping and remembers which names were present."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.names_read: list[str] = []

    def _raw(self, name: str) -> str | None:
        """The value under `name` or its pass-through name; None when unset or empty."""
        value = self._environ.get(name) or None
        if name not in OPTION_NAMES:
            if value is not None:
                self.names_read.append(name)
            return value
        alias = passthrough_name(name)
        alias_value = self._environ.get(alias) or None
        if value is not None and alias_value is not None and value != alias_value:
            raise ConfigurationError(name, f"set differently as {alias}")
        if value is not None:
            self.names_read.append(name)
            return value
        if alias_value is not None:
            self.names_read.append(alias)
        return alias_value

    def optional(self, name: str, default: str | None = None) -> str | None:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ConfigurationError(name, "missing (required)")
        return value

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        if value is None:
            return default
        # A delimiter may be whitespace (tab), so only strip other settings.
        return value if name == CSV_DELIMITER else value.strip()

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigurationError(name, "must be an integer") from None
        if number < minimum:
            raise ConfigurationError(name, f"must be at least {minimum}")
        return number

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigurationError(name, "must be a number") from None
        if not number >= minimum or number == float("inf"):
            raise ConfigurationError(name, f"must be a finite number of at least {minimum}")
        return number

    def ratio(self, name: str, default: float) -> float:
        number = self.number(name, default)
        if number > 1.0:
            raise ConfigurationError(name, "must be between 0 and 1")
        return number

    def names(self, name: str) -> tuple[str, ...]:
        value = self.optional(name)
        if value is None:
            return ()
        return tuple(part.strip() for part in value.split(",") if part.strip())

    def endpoint(self, name: str, *, required: bool) -> str | None:
        value = self.required(name) if required else self.optional(name)
        if value is None:
            return None
        if not re.match(r"https?://[^/\s]+", value):
            raise ConfigurationError(name, "must be an http:// or https:// URL")
        return value.rstrip("/")

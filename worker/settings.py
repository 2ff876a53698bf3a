"""The worker's settings, read once from the task environment: the only place in the worker
that reads it.

Only non-secret values live in the environment (Batch task settings are readable by anyone
who can read the Batch account); secrets come from the node's credentials file
(see `worker.credentials`). The names are the task contract's (see `worker.contract`).
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from worker import contract
from worker.contract import TaskRoute, is_file_key
from worker.errors import WorkerConfigError
from worker.options import CsvOptions, GiB, WriteOptions, ZipLimits

# Set by Batch on every task.
BATCH_SHARED_DIR = "AZ_BATCH_NODE_SHARED_DIR"
BATCH_WORKING_DIR = "AZ_BATCH_TASK_WORKING_DIR"
BATCH_TASK_ID = "AZ_BATCH_TASK_ID"
BATCH_JOB_ID = "AZ_BATCH_JOB_ID"

CREDENTIALS_RELATIVE_PATH = Path("dropbatch") / "credentials.json"


@dataclass(frozen=True)
class WorkerSettings:
    """Everything one run is told by its task, checked."""

    route: TaskRoute
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
    traceparent: str | None = None  # the span that created the task (worker.telemetry)

    @property
    def credentials_path(self) -> Path | None:
        """Where the node's credentials file is, when the task has a shared folder."""
        return self.shared_dir / CREDENTIALS_RELATIVE_PATH if self.shared_dir else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> WorkerSettings:
        """Build the settings; a missing or malformed one raises WorkerConfigError naming it."""
        env = _Reader(environ)
        route_text = env.required(contract.ROUTE)
        try:
            route = TaskRoute(route_text)
        except ValueError:
            raise WorkerConfigError(contract.ROUTE, "must be 'csv' or 'zip'") from None
        file_key = env.required(contract.FILE_KEY)
        if not is_file_key(file_key):
            raise WorkerConfigError(contract.FILE_KEY, "must be 8 to 128 lowercase hex characters")
        csv_options, zip_limits, writes = _csv_options(env), _zip_limits(env), _write_options(env)
        shared = env.optional(BATCH_SHARED_DIR)
        working = env.optional(BATCH_WORKING_DIR)
        settings = cls(
            route=route,
            file_key=file_key,
            input_container=env.required(contract.INPUT_CONTAINER),
            input_blob=env.required(contract.INPUT_BLOB),
            input_etag=env.required(contract.INPUT_ETAG),
            blob_endpoint=env.endpoint(contract.BLOB_ENDPOINT, required=True) or "",
            cosmos_endpoint=env.endpoint(contract.COSMOS_ENDPOINT, required=route is TaskRoute.CSV),
            cosmos_database=env.text(contract.COSMOS_DATABASE, "dropbatch"),
            records_container=env.text(contract.COSMOS_RECORDS_CONTAINER, "records"),
            container_incoming=env.text(contract.CONTAINER_INCOMING, "incoming"),
            container_results=env.text(contract.CONTAINER_RESULTS, "results"),
            container_logs=env.text(contract.CONTAINER_LOGS, "logs"),
            identity_client_id=env.optional(contract.IDENTITY_CLIENT_ID),
            shared_dir=Path(shared) if shared else None,
            working_dir=Path(working) if working else Path(os.getcwd()),
            task_id=env.optional(BATCH_TASK_ID),
            job_id=env.optional(BATCH_JOB_ID),
            attempt=env.optional(contract.ATTEMPT),
            csv=csv_options,
            zip=zip_limits,
            writes=writes,
            max_input_bytes=env.integer(contract.MAX_INPUT_BYTES, 2 * GiB),
            service_retries=env.integer(contract.SERVICE_RETRIES, 3, minimum=0),
            service_retry_backoff_seconds=env.number(
                contract.SERVICE_RETRY_BACKOFF_SECONDS, 1.0, minimum=0.0
            ),
            names_used=(),
            traceparent=env.optional(contract.TRACEPARENT),
        )
        return replace(settings, names_used=tuple(sorted(env.names_read)))


def _csv_options(env: _Reader) -> CsvOptions:
    defaults = CsvOptions()
    encoding = env.text(contract.CSV_ENCODING, defaults.encoding)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise WorkerConfigError(contract.CSV_ENCODING, "not an encoding Python knows") from None
    delimiter = env.text(contract.CSV_DELIMITER, defaults.delimiter)
    if len(delimiter) != 1 or delimiter in '\r\n"':
        raise WorkerConfigError(
            contract.CSV_DELIMITER, "must be one character, not a quote or newline"
        )
    return CsvOptions(
        encoding=encoding,
        delimiter=delimiter,
        max_field_chars=env.integer(contract.CSV_MAX_FIELD_CHARS, defaults.max_field_chars),
        max_row_chars=env.integer(contract.CSV_MAX_ROW_CHARS, defaults.max_row_chars),
        max_columns=env.integer(contract.CSV_MAX_COLUMNS, defaults.max_columns),
        max_reject_ratio=env.ratio(contract.MAX_REJECT_RATIO, defaults.max_reject_ratio),
        id_column=env.optional(contract.ID_COLUMN),
        partition_by=env.optional(contract.PARTITION_BY),
        group_by=env.optional(contract.GROUP_BY, defaults.group_by),
        latitude_column=env.text(contract.LATITUDE_COLUMN, defaults.latitude_column),
        longitude_column=env.text(contract.LONGITUDE_COLUMN, defaults.longitude_column),
        numeric_columns=env.names(contract.NUMERIC_COLUMNS),
    )


def _zip_limits(env: _Reader) -> ZipLimits:
    defaults = ZipLimits()
    return ZipLimits(
        max_entries=env.integer(contract.ZIP_MAX_ENTRIES, defaults.max_entries),
        max_entry_bytes=env.integer(contract.ZIP_MAX_ENTRY_BYTES, defaults.max_entry_bytes),
        max_total_bytes=env.integer(contract.ZIP_MAX_TOTAL_BYTES, defaults.max_total_bytes),
        max_ratio=env.number(contract.ZIP_MAX_RATIO, defaults.max_ratio, minimum=1.0),
    )


def _write_options(env: _Reader) -> WriteOptions:
    defaults = WriteOptions()
    return WriteOptions(
        concurrency=env.integer(contract.COSMOS_CONCURRENCY, defaults.concurrency),
        processes=env.integer(contract.COSMOS_PROCESSES, defaults.processes),
        max_attempts=env.integer(contract.COSMOS_MAX_ATTEMPTS, defaults.max_attempts),
        throttle_budget_seconds=env.number(
            contract.COSMOS_THROTTLE_BUDGET_SECONDS, defaults.throttle_budget_seconds
        ),
    )


class _Reader:
    """Reads settings from a mapping and remembers which names were present."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.names_read: set[str] = set()

    def _raw(self, name: str) -> str | None:
        """The value under `name`; None when unset or empty."""
        value = self._environ.get(name) or None
        if value is not None:
            self.names_read.add(name)
        return value

    def optional(self, name: str, default: str | None = None) -> str | None:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise WorkerConfigError(name, "missing (required)")
        return value

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        if value is None:
            return default
        # A delimiter may be whitespace (tab), so only strip other settings.
        return value if name == contract.CSV_DELIMITER else value.strip()

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise WorkerConfigError(name, "must be an integer") from None
        if number < minimum:
            raise WorkerConfigError(name, f"must be at least {minimum}")
        return number

    def number(self, name: str, default: float, minimum: float = 0.0) -> float:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise WorkerConfigError(name, "must be a number") from None
        if not number >= minimum or number == float("inf"):
            raise WorkerConfigError(name, f"must be a finite number of at least {minimum}")
        return number

    def ratio(self, name: str, default: float) -> float:
        number = self.number(name, default)
        if number > 1.0:
            raise WorkerConfigError(name, "must be between 0 and 1")
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
            raise WorkerConfigError(name, "must be an http:// or https:// URL")
        return value.rstrip("/")

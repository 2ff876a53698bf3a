"""What the function app and the worker agree on, spelled once for both.

The function app builds each Batch task from these names and reads the task's outputs at these
paths; the worker reads the same names and writes to the same paths. This module imports no
Azure SDK (nothing but the standard library), so the function app may import it without
pulling in the worker: it is the only part of `worker` that `batch_core` imports.
"""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum
from typing import NamedTuple

# --- The task environment ------------------------------------------------------------------
# Set by the function app on every task (non-secret values only: anyone who can read the
# Batch account can read a task's environment).
ROUTE = "DROPBATCH_ROUTE"
FILE_KEY = "DROPBATCH_FILE_KEY"
INPUT_CONTAINER = "DROPBATCH_INPUT_CONTAINER"
INPUT_BLOB = "DROPBATCH_INPUT_BLOB"
INPUT_ETAG = "DROPBATCH_INPUT_ETAG"
ATTEMPT = "DROPBATCH_ATTEMPT"
BLOB_ENDPOINT = "DROPBATCH_BLOB_ENDPOINT"
COSMOS_ENDPOINT = "DROPBATCH_COSMOS_ENDPOINT"
COSMOS_DATABASE = "DROPBATCH_COSMOS_DATABASE"
COSMOS_RECORDS_CONTAINER = "DROPBATCH_COSMOS_RECORDS_CONTAINER"
CONTAINER_INCOMING = "DROPBATCH_CONTAINER_INCOMING"
CONTAINER_RESULTS = "DROPBATCH_CONTAINER_RESULTS"
CONTAINER_LOGS = "DROPBATCH_CONTAINER_LOGS"
IDENTITY_CLIENT_ID = "DROPBATCH_WORKER_IDENTITY_CLIENT_ID"
# The W3C traceparent of the span that created the task: the worker's spans are its children,
# so a task's phases appear under the file's operation in Application Insights.
TRACEPARENT = "DROPBATCH_TRACEPARENT"

# The plan task of a fan-out file (`python -m worker plan`): its route's [route.fanout], as
# JSON (see `batch_core.fanoutspec`). Names and limits only, never a secret.
FANOUT_SPEC = "DROPBATCH_FANOUT_SPEC"

# The worker's options: how files are read, limits, and how hard services are tried. The
# function app passes each on from its own setting of the same name with DROPBATCH_WORKER_
# in front (see `batch_core.settings`); the worker reads only the names below.
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
TASK_NAMES = (
    ROUTE,
    FILE_KEY,
    INPUT_CONTAINER,
    INPUT_BLOB,
    INPUT_ETAG,
    ATTEMPT,
    BLOB_ENDPOINT,
    COSMOS_ENDPOINT,
    COSMOS_DATABASE,
    COSMOS_RECORDS_CONTAINER,
    CONTAINER_INCOMING,
    CONTAINER_RESULTS,
    CONTAINER_LOGS,
    IDENTITY_CLIENT_ID,
    TRACEPARENT,
    FANOUT_SPEC,
)
# Every name the worker reads from its task environment, besides Batch's own AZ_BATCH_*.
WORKER_NAMES = frozenset(TASK_NAMES + OPTION_NAMES)


class TaskRoute(StrEnum):
    """The work a task does (the value of DROPBATCH_ROUTE)."""

    CSV = "csv"
    ZIP = "zip"


# --- File keys -----------------------------------------------------------------------------
# What the worker accepts as a file key. The function app makes 40 of these characters (see
# `batch_core.keys`); the key names output folders and document ids.
FILE_KEY_PATTERN = re.compile(r"[0-9a-f]{8,128}")


def is_file_key(text: str) -> bool:
    """Whether `text` is a file key (8 to 128 lowercase hex characters)."""
    return FILE_KEY_PATTERN.fullmatch(text) is not None


# --- Exit codes ----------------------------------------------------------------------------
class WorkerExit(IntEnum):
    """Exit codes of `python -m worker` and what the function app makes of them
    (see worker/README.md)."""

    OK = 0  # processed; summary.json says `succeeded`
    CRASH = 1  # unexpected error or service answer: retried, then failed
    CONFIG = 2  # a setting, the credentials file or a credential is wrong: failed, no retry
    REJECTED = 3  # the input is bad; summary.json says why: rejected, never retried
    VANISHED = 4  # the input blob was deleted or replaced first: vanished
    TRANSIENT = 75  # a service was unreachable or failed in a way that may pass: retried
    THROTTLED = 76  # Cosmos DB write budget spent: retried later
    KILLED = 137  # SIGKILL, not the worker's own code (out of memory, time limit): retried
    TERMINATED = 143  # SIGTERM: the task was stopped or the node is going away: retried


# --- Output layout -------------------------------------------------------------------------
# A file version's results live under `<container results>/<output prefix>/`, its logs under
# `<container logs>/<output prefix>/`: derived from the blob name and file key only, so a
# re-run writes to the same places.
SUMMARY_FILE = "summary.json"
REJECTS_FILE = "rejects.csv"
STARTED_FILE = "started.json"
WORKER_LOG_FILE = "worker-log.json"
# The files Batch keeps of a task's output, copied to the logs container per attempt.
STDOUT_FILE = "stdout.txt"
STDERR_FILE = "stderr.txt"
TASK_LOG_FILES = (STDOUT_FILE, STDERR_FILE)


def output_prefix(name: str, key: str) -> str:
    """Where a file version's results and logs live inside the results and logs containers."""
    return f"{name}/{key}"


def worker_log_path(name: str, key: str) -> str:
    """Where the worker's task log (worker-log.json) lives in the logs container."""
    return f"{output_prefix(name, key)}/{WORKER_LOG_FILE}"


def attempt_log_prefix(name: str, key: str, attempt: int) -> str:
    """Where one attempt's task output (stdout.txt, stderr.txt) lives in the logs container."""
    return f"{output_prefix(name, key)}/attempt-{attempt}"


def member_attempt_log_prefix(name: str, key: str, member: int, attempt: int) -> str:
    """Where the task output of one member of a fanned-out file's attempt lives."""
    return f"{member_prefix(name, key, member)}/attempt-{attempt}"


# What the plan task of a fan-out file writes under its results folder, and the function
# app reads or stages for the members: the plan (count, placeholder values), the shared
# `global` object, and per member its params (item, row or index) or its zip entry.
PLAN_FILE = "plan.json"
GLOBAL_FILE = "global.json"
PARAMS_FILE = "params.json"
MEMBER_INPUT_FILE = "input"
MEMBERS_FOLDER = "members"


def member_prefix(name: str, key: str, member: int) -> str:
    """Where one member's files live in the results container (and its logs in logs)."""
    return f"{output_prefix(name, key)}/{MEMBERS_FOLDER}/{member}"


# --- How long a dropped name may be ---------------------------------------------------------
# Azure Storage's limit on a blob name.
MAX_BLOB_NAME_CHARS = 1024
# The longest path the pipeline writes for a dropped file: a fan-out member's attempt log
# (members numbered below 100,000, above the routes' cap; attempts up to 99; a 40-character
# file key).
_LONGEST_OUTPUT = f"{member_attempt_log_prefix('', '0' * 40, 99_999, 99)}/{STDERR_FILE}"
# The longest name a file (a zip's child included) may have for all its outputs to fit.
MAX_DROPPED_NAME_CHARS = MAX_BLOB_NAME_CHARS - len(_LONGEST_OUTPUT)


# --- Children extracted from a zip ---------------------------------------------------------
# Each CSV entry of a zip goes back to the incoming container as
# `<zip name>.parts/<first 12 characters of the zip's file key>/<entry>`, with metadata naming
# its parent zip's file key and its entry.
PARTS_SUFFIX = ".parts"
PARENT_KEY_CHARS = 12
PARENT_METADATA = "dropbatch_parent"
ENTRY_METADATA = "dropbatch_entry"
_CHILD_NAME = re.compile(rf"(.+{re.escape(PARTS_SUFFIX)})/([0-9a-f]{{{PARENT_KEY_CHARS}}})/(.+)")


class ChildName(NamedTuple):
    """A child blob's name in parts: the zip's parts folder, the zip's short key, the entry."""

    parts: str
    parent_key: str
    entry: str


def parts_folder(zip_name: str) -> str:
    """The folder of a zip's children inside the incoming container."""
    return f"{zip_name}{PARTS_SUFFIX}"


def child_prefix(zip_name: str, zip_file_key: str) -> str:
    """The folder of the children of one version of a zip."""
    return f"{parts_folder(zip_name)}/{zip_file_key[:PARENT_KEY_CHARS]}"


def child_blob_name(zip_name: str, zip_file_key: str, entry: str) -> str:
    """The blob one entry of a zip is extracted to."""
    return f"{child_prefix(zip_name, zip_file_key)}/{entry}"


def split_child_name(name: str) -> ChildName | None:
    """The parts of a child blob's name, or None when `name` is not one."""
    match = _CHILD_NAME.fullmatch(name)
    return ChildName(*match.groups()) if match else None


def is_parent_key(text: str) -> bool:
    """Whether `text` is the short zip key that names a version's folder of children."""
    return len(text) == PARENT_KEY_CHARS and is_file_key(text)

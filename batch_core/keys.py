"""The one key that names everything a file version produces.

file key = sha256("account/container/name@etag"): it names the ledger entry, the Batch task
id, the output paths and the Cosmos ids, so that every at-least-once hop (duplicate events,
retries, node recovery) lands on the same names. A re-uploaded file has a new etag, so it is
a new run. What the worker accepts as a file key, and the output paths derived from it, are
the task contract's (`worker.contract`).
"""

from __future__ import annotations

import hashlib
import re

FILE_KEY_LENGTH = 40
TASK_ID_MAX = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def normalize_etag(etag: str) -> str:
    """Storage hands out etags quoted in headers and unquoted in some SDK models."""
    return etag.strip().strip('"')


def file_key(account: str, container: str, name: str, etag: str) -> str:
    """The key of one version of one blob: the same account, container, name and etag always give
    the same key."""
    raw = f"{account}/{container}/{name}@{normalize_etag(etag)}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:FILE_KEY_LENGTH]


def task_id(name: str, key: str, attempt: int = 1) -> str:
    """A Batch task id (at most 64 of [A-Za-z0-9_-]): a readable prefix from the blob's base
    name, the file key, and the attempt number from the second attempt on."""
    suffix = key[:32] + (f"-a{attempt}" if attempt > 1 else "")
    base = name.rsplit("/", 1)[-1]
    prefix = _UNSAFE.sub("_", base).strip("_")[: TASK_ID_MAX - len(suffix) - 1]
    return f"{prefix}-{suffix}" if prefix else suffix


_TASK_ID = re.compile(r"(?:^|-)([0-9a-f]{32})(?:-a(\d+))?$")


def task_attempt(task_id: str) -> tuple[str, int] | None:
    """What `task_id` above made a task id of: (the first 32 characters of the file key, the
    attempt), or None for a task id it did not make."""
    found = _TASK_ID.search(task_id)
    if found is None:
        return None
    return found.group(1), int(found.group(2) or 1)

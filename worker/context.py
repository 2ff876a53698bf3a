"""What one task's phases share: its settings, clients, task log and output paths.

Built once by `worker.__main__` and passed explicitly to the route runners
(`worker.ingest`, `worker.extraction`), which `worker.job` calls; none of those is imported
here, so imports go one way. Output paths are derived from the blob name and the file key
only (see `worker.contract`), so a re-run writes to the same places.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO

from azure.core.credentials import TokenCredential

from worker.contract import (
    STARTED_FILE,
    is_file_key,
    is_parent_key,
    output_prefix,
    split_child_name,
)
from worker.credentials import Credentials
from worker.document import Source
from worker.errors import RejectedInput
from worker.settings import WorkerSettings
from worker.storage import Storage
from worker.tasklog import TaskLog


@dataclass(frozen=True)
class WorkerOutcome:
    """How a route's run ended: `succeeded` or `rejected`, and the reason when rejected."""

    status: str
    reason: str | None


@dataclass(frozen=True)
class TaskContext:
    """What the route runners need; passed explicitly. A route that uses a further service
    (the csv route's Cosmos DB records) connects to it from `credentials` and `identity`, so
    the other routes never load its SDK."""

    settings: WorkerSettings
    storage: Storage
    credentials: Credentials
    identity: TokenCredential | None
    tasklog: TaskLog

    @property
    def source(self) -> Source:
        """The input blob version this task processes."""
        s = self.settings
        return Source(s.input_container, s.input_blob, s.input_etag)

    def result_path(self, leaf: str) -> str:
        """The blob name of one result file of this file version."""
        return f"{output_prefix(self.settings.input_blob, self.settings.file_key)}/{leaf}"

    def reason(self, error: RejectedInput) -> str:
        """The operator-facing reason: the file, then where in it, then the cause."""
        s = self.settings
        prefix = f"{s.input_container}/{s.input_blob}"
        return (
            f"{prefix}: {error.where}: {error.cause}" if error.where else f"{prefix}: {error.cause}"
        )

    def mark_started(self) -> None:
        """Leave this version's folder in `results` before writing any document, so a later
        version finds it (see `older_versions`) even if this one never finishes."""
        s = self.settings
        marker = encode_marker(s.file_key, self.source)
        self.put_result(STARTED_FILE, marker, "application/json")

    def older_versions(self) -> list[str]:
        """File keys of the other versions of this blob: the folders next to this version's
        in the results container. Listing one name's folder stays cheap however many
        documents the records container holds. A CSV extracted from a zip also has versions
        under the other versions of that zip (`<zip>.parts/<other zip key>/<entry>`)."""
        s = self.settings
        names = [s.input_blob]
        child = split_child_name(s.input_blob)
        if child is not None:
            siblings = self.storage.folders(s.container_results, f"{child.parts}/")
            names += [
                f"{child.parts}/{k}/{child.entry}"
                for k in siblings
                if is_parent_key(k) and k != child.parent_key
            ]
        found: set[str] = set()
        for name in names:
            found.update(self.storage.folders(s.container_results, f"{name}/"))
        return sorted(k for k in found if is_file_key(k) and k != s.file_key)

    def put_result(self, leaf: str, data: bytes | IO[bytes], content_type: str) -> None:
        """Write one result file of this file version."""
        self.storage.put(
            self.settings.container_results, self.result_path(leaf), data, content_type
        )


def encode_marker(file_key: str, source: Source) -> bytes:
    """The marker written with a file version's results: its key and source, as stable JSON."""
    body = {"file_key": file_key, "source": {"container": source.container, "name": source.name,
                                             "etag": source.etag}}  # fmt: skip
    return json.dumps(body, sort_keys=True).encode()


def same_etag(a: str, b: str) -> bool:
    """Whether two etags are the same, quoted or not."""
    return a.strip('"') == b.strip('"')

"""One run of the worker: download the input under its etag, then the route's work.

Output paths are derived from the blob name and the file key only, so a re-run writes to the
same places.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from worker.document import Source
from worker.errors import RejectedInput
from worker.records import RecordStore
from worker.settings import Route, Settings
from worker.storage import Storage
from worker.tasklog import TaskLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str | None


@dataclass(frozen=True)
class Context:
    """What the route runners need; passed explicitly."""

    settings: Settings
    storage: Storage
    connect_records: Callable[[], RecordStore]
    tasklog: TaskLog

    @property
    def source(self) -> Source:
        s = self.settings
        return Source(s.input_container, s.input_blob, s.input_etag)

    def result_path(self, leaf: str) -> str:
        return f"{self.settings.input_blob}/{self.settings.file_key}/{leaf}"

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
        self.put_result("started.json", marker, "application/json")

    def older_versions(self) -> list[str]:
        """File keys of the other versions of this blob: the folders next to this version's
        in the results container. Listing one name's folder stays cheap however many
        documents the records container holds. A CSV extracted from a zip also has versions
        under the other versions of that zip (`<zip>.parts/<other zip key>/<entry>`)."""
        s = self.settings
        names = [s.input_blob]
        child = _CHILD.fullmatch(s.input_blob)
        if child is not None:
            parts, own, entry = child.group(1), child.group(2), child.group(3)
            siblings = self.storage.folders(s.container_results, f"{parts}/")
            names += [
                f"{parts}/{k}/{entry}" for k in siblings if _ZIP_KEY.fullmatch(k) and k != own
            ]
        found: set[str] = set()
        for name in names:
            found.update(self.storage.folders(s.container_results, f"{name}/"))
        return sorted(k for k in found if _FILE_KEY.fullmatch(k) and k != s.file_key)

    def put_result(self, leaf: str, data: bytes | IO[bytes], content_type: str) -> None:
        self.storage.put(
            self.settings.container_results, self.result_path(leaf), data, content_type
        )


_FILE_KEY = re.compile(r"[0-9a-f]{8,128}")
_ZIP_KEY = re.compile(r"[0-9a-f]{12}")
_CHILD = re.compile(r"(.+\.parts)/([0-9a-f]{12})/(.+)")


def encode_marker(file_key: str, source: Source) -> bytes:
    body = {"file_key": file_key, "source": {"container": source.container, "name": source.name,
                                             "etag": source.etag}}  # fmt: skip
    return json.dumps(body, sort_keys=True).encode()


def log_path(settings: Settings) -> str:
    return f"{settings.input_blob}/{settings.file_key}/worker-log.json"


def same_etag(a: str, b: str) -> bool:
    return a.strip('"') == b.strip('"')


def run(context: Context) -> Outcome:
    # Imported here: each route pulls in only what it needs.
    from worker.extraction import run_zip
    from worker.ingest import run_csv

    s = context.settings
    log.info(
        "processing %s/%s (etag %s, route %s, file key %s)",
        s.input_container, s.input_blob, s.input_etag, s.route.value, s.file_key,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(dir=s.working_dir, prefix="dropbatch-") as tmp:
        path = Path(tmp) / "input"
        with context.tasklog.phase("download"), open(path, "wb") as out:
            try:
                context.tasklog.input_bytes = context.storage.download(
                    s.input_container, s.input_blob, s.input_etag, out, s.max_input_bytes
                )
                rejection = None
            except RejectedInput as e:
                rejection = e
        if s.route is Route.CSV:
            return run_csv(context, path, rejection)
        return run_zip(context, path, rejection)

"""One run of the worker: download the input under its etag, then the route's work."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from worker.context import TaskContext, WorkerOutcome
from worker.contract import TaskRoute
from worker.errors import RejectedInput
from worker.extraction import run_zip
from worker.ingest import run_csv

log = logging.getLogger(__name__)


def run(context: TaskContext) -> WorkerOutcome:
    """Download the input (If-Match its etag) to a temporary file, then run its route."""
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
        if s.route is TaskRoute.CSV:
            return run_csv(context, path, rejection)
        return run_zip(context, path, rejection)

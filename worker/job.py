"""One run of the worker: download the input under its etag, then the route's work.

Each route's runner lives in its own module, imported only when a task of that route runs
(`ROUTES`): the zip route never loads the Cosmos DB SDK, and start-up costs only what the
route uses.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
from pathlib import Path
from typing import Protocol, cast

from worker.context import TaskContext, WorkerOutcome
from worker.contract import TaskRoute
from worker.errors import RejectedInput

log = logging.getLogger(__name__)


class RouteRunner(Protocol):
    """A route's work on the downloaded input (or on why it could not be downloaded)."""

    def __call__(
        self, context: TaskContext, path: Path, rejection: RejectedInput | None
    ) -> WorkerOutcome: ...


# route -> "module:function" of its runner.
ROUTES: dict[TaskRoute, str] = {
    TaskRoute.CSV: "worker.ingest:run_csv",
    TaskRoute.ZIP: "worker.extraction:run_zip",
}


def runner(route: TaskRoute) -> RouteRunner:
    """The route's runner, importing its module (and so its SDKs) now."""
    module, _, name = ROUTES[route].partition(":")
    return cast(RouteRunner, getattr(importlib.import_module(module), name))


def run(context: TaskContext) -> WorkerOutcome:
    """Download the input (If-Match its etag) to a temporary file, then run its route."""
    s = context.settings
    log.info(
        "processing %s/%s (etag %s, route %s, file key %s)",
        s.input_container, s.input_blob, s.input_etag, s.route.value, s.file_key,
    )  # fmt: skip
    route_runner = runner(s.route)
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
        return route_runner(context, path, rejection)

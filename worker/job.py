"""One run of the worker: settings, credentials and clients, the download of the input under
its etag, the route's work, and the task log on every exit.

Each route's runner lives in its own module, imported only when a task of that route runs
(`ROUTES`): the zip route never loads the Cosmos DB SDK, and start-up costs only what the
route uses. Likewise the identity package loads only when a service has no secret in the
node's credentials file, and the telemetry packages only when it holds a connection string
(`worker.credentials`, `worker.telemetry`).
"""

from __future__ import annotations

import gc
import importlib
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, cast

from worker import telemetry
from worker.context import TaskContext, WorkerOutcome
from worker.contract import TaskRoute, WorkerExit, worker_log_path
from worker.credentials import Credentials, identity_for
from worker.errors import RejectedInput, WorkerConfigError, WorkerError
from worker.settings import WorkerSettings
from worker.storage import Storage
from worker.summary import SUCCEEDED
from worker.tasklog import TaskLog

log = logging.getLogger(__name__)
# The task's own lines (its configuration error, its exit code) under the package's name.
status_log = logging.getLogger("worker")


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


def started() -> None:
    """The task's modules are loaded. When `python -m worker` paused the garbage collector
    for them (see `worker.__main__`), freeze what exists now (it lives until the process
    ends, so later collections need not scan it) and let the collector run again for the
    task's own garbage. Called in-process (a test, a benchmark) it changes nothing."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()


def run_task(environ: Mapping[str, str]) -> int:
    """Run one task from the environment Batch gives it; the exit code (see `WorkerExit`)."""
    try:
        settings = WorkerSettings.from_environ(environ)
    except WorkerConfigError as e:
        status_log.error("configuration error: %s", e)
        return e.exit_code
    tasklog = TaskLog(settings)
    storage: Storage | None = None
    code: int = WorkerExit.CRASH
    try:
        credentials = Credentials.load(settings.credentials_path)
        tasklog.credential_keys = credentials.names_present
        tasklog.tracing = telemetry.start(settings, credentials)
        identity = identity_for(settings, credentials)
        storage = Storage.connect(settings, credentials, identity)
        context = TaskContext(
            settings=settings,
            storage=storage,
            credentials=credentials,
            identity=identity,
            tasklog=tasklog,
        )
        outcome = run(context)
        code = WorkerExit.OK if outcome.status == SUCCEEDED else WorkerExit.REJECTED
    except WorkerError as e:
        code = e.exit_code
        tasklog.error = f"{type(e).__name__}: {e}"
        status_log.error("%s (exit %s): %s", type(e).__name__, code, e)
    except Exception as e:
        code = WorkerExit.CRASH
        tasklog.error = type(e).__name__
        status_log.exception("crashed")
    finally:
        tasklog.finish(code)
        if storage is not None:
            try:
                storage.put(
                    settings.container_logs,
                    worker_log_path(settings.input_blob, settings.file_key),
                    tasklog.encode(),
                    "application/json",
                )
            except WorkerError as e:
                status_log.warning("could not write the task log: %s", e)
            storage.close()
    status_log.info("exit %s", code)
    tasklog.tracing.end(code)
    return code


def run(context: TaskContext) -> WorkerOutcome:
    """Download the input (If-Match its etag) to a temporary file, then run its route."""
    s = context.settings
    log.info(
        "processing %s/%s (etag %s, route %s, file key %s)",
        s.input_container, s.input_blob, s.input_etag, s.route.value, s.file_key,
    )  # fmt: skip
    route_runner = runner(s.route)
    started()
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

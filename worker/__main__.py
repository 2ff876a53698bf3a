"""`python -m worker`: process one dropped file on a Batch node; `python -m worker plan`:
plan a fan-out file (`worker.plan`). Exit codes: see README."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping
from types import FrameType

from worker import telemetry
from worker.context import TaskContext
from worker.contract import WorkerExit, worker_log_path
from worker.credentials import Credentials, identity_for
from worker.errors import Terminated, WorkerConfigError, WorkerError
from worker.job import run
from worker.settings import WorkerSettings
from worker.storage import Storage
from worker.summary import SUCCEEDED
from worker.tasklog import TaskLog, configure_logging

log = logging.getLogger("worker")


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run one task from the environment Batch gives it; the exit code (see `WorkerExit`)."""
    try:
        settings = WorkerSettings.from_environ(os.environ if environ is None else environ)
    except WorkerConfigError as e:
        log.error("configuration error: %s", e)
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
        log.error("%s (exit %s): %s", type(e).__name__, code, e)
    except Exception as e:
        code = WorkerExit.CRASH
        tasklog.error = type(e).__name__
        log.exception("crashed")
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
                log.warning("could not write the task log: %s", e)
            storage.close()
    log.info("exit %s", code)
    tasklog.tracing.end(code)
    return code


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Raised in the main thread: temporary files are removed, writer processes stopped and
    # the task log written on the way out.
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


if __name__ == "__main__":
    configure_logging()
    signal.signal(signal.SIGTERM, _terminate)
    if sys.argv[1:] == ["plan"]:
        from worker.plan import main as plan_main

        sys.exit(plan_main())
    sys.exit(main())

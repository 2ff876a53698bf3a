"""`python -m worker`: process one dropped file on a Batch node. Exit codes: see README."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping
from types import FrameType

from worker.credentials import Credentials, identity_for
from worker.errors import ConfigurationError, Terminated, WorkerError
from worker.job import Context, log_path, run
from worker.records import RecordStore
from worker.settings import Settings
from worker.storage import Storage
from worker.summary import SUCCEEDED
from worker.tasklog import TaskLog, configure_logging

log = logging.getLogger("worker")

EXIT_SUCCEEDED = 0
EXIT_CRASH = 1


def main(environ: Mapping[str, str] | None = None) -> int:
    try:
        settings = Settings.from_environ(os.environ if environ is None else environ)
    except ConfigurationError as e:
        log.error("configuration error: %s", e)
        return e.exit_code
    tasklog = TaskLog(settings)
    storage: Storage | None = None
    code = EXIT_CRASH
    try:
        credentials = Credentials.load(settings.credentials_path)
        tasklog.credential_keys = credentials.names_present
        identity = identity_for(settings, credentials)
        storage = Storage.connect(settings, credentials, identity)
        context = Context(
            settings=settings,
            storage=storage,
            connect_records=lambda: RecordStore.connect(settings, credentials, identity),
            tasklog=tasklog,
        )
        outcome = run(context)
        code = EXIT_SUCCEEDED if outcome.status == SUCCEEDED else 3
    except WorkerError as e:
        code = e.exit_code
        tasklog.error = f"{type(e).__name__}: {e}"
        log.error("%s (exit %s): %s", type(e).__name__, code, e)
    except Exception as e:
        code = EXIT_CRASH
        tasklog.error = type(e).__name__
        log.exception("crashed")
    finally:
        tasklog.finish(code)
        if storage is not None:
            try:
                storage.put(
                    settings.container_logs,
                    log_path(settings),
                    tasklog.encode(),
                    "application/json",
                )
            except WorkerError as e:
                log.warning("could not write the task log: %s", e)
            storage.close()
    log.info("exit %s", code)
    return code


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Raised in the main thread: temporary files are removed, writer processes stopped and
    # the task log written on the way out.
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


if __name__ == "__main__":
    configure_logging()
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())

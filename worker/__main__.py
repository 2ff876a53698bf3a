"""`python -m worker`: process one dropped file on a Batch node; `python -m worker plan`:
plan a fan-out file (`worker.plan`). Exit codes: see README.

On a small file most of a task's CPU is start-up: the Azure SDKs are some 500 modules whose
objects live until the process ends. The garbage collector is paused while they load (each
collection would scan them all and free nothing), and once the task's modules are loaded
they are frozen (`worker.job.started`): later collections skip them, and the process's end
does not walk them either. Nothing here imports an SDK; `main` loads what the task needs.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Mapping
from types import FrameType

from worker.errors import Terminated


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run one task from the environment Batch gives it; the exit code (see `WorkerExit`)."""
    from worker.job import run_task

    return run_task(os.environ if environ is None else environ)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Raised in the main thread: temporary files are removed, writer processes stopped and
    # the task log written on the way out.
    raise Terminated(f"stopped by signal {signal.Signals(signum).name}")


def _run(argv: list[str]) -> int:
    # Loaded before the handler is set: a SIGTERM during start-up still simply ends the process.
    from worker.job import run_task, started
    from worker.tasklog import configure_logging

    configure_logging()
    signal.signal(signal.SIGTERM, _terminate)
    if argv == ["plan"]:
        from worker.plan import main as plan_main

        started()
        return plan_main()
    return run_task(os.environ)


if __name__ == "__main__":
    gc.disable()
    code = _run(sys.argv[1:])
    # Everything left is freed by the process's end; a last collection would only scan it.
    gc.freeze()
    sys.exit(code)

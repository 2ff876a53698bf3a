"""The worker's exceptions. Each carries the process exit code the reconciler maps.

Retryable failures (`retryable = True`) are worth running again later; permanent ones are
not: running the same task on the same input would fail the same way.
"""

from __future__ import annotations

from typing import ClassVar

from worker.contract import WorkerExit


class WorkerError(Exception):
    """Root of the worker's exceptions; `exit_code` is what the process returns."""

    exit_code: ClassVar[int] = WorkerExit.CRASH
    retryable: ClassVar[bool] = False


class WorkerConfigError(WorkerError):
    """A setting or the credentials file is missing or malformed (permanent, exit 2)."""

    exit_code = WorkerExit.CONFIG

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class RejectedInput(WorkerError):
    """The input file is bad; `where` (row, entry) and `cause` say why (permanent, exit 3)."""

    exit_code = WorkerExit.REJECTED

    def __init__(self, cause: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {cause}" if where else cause)
        self.cause = cause
        self.where = where


class InputVanished(WorkerError):
    """The input blob is gone or was replaced (its etag changed) (exit 4)."""

    exit_code = WorkerExit.VANISHED


class WorkerTransientError(WorkerError):
    """A service is unavailable or failed in a way that may pass (retry, exit 75)."""

    exit_code = WorkerExit.TRANSIENT
    retryable = True


class WriteBudgetSpent(WorkerTransientError):
    """Cosmos DB kept throttling beyond the retry budget (retry later, exit 76)."""

    exit_code = WorkerExit.THROTTLED


class Terminated(WorkerError):
    """The process was asked to stop (SIGTERM: task terminated, node preempted) (exit 143)."""

    exit_code = WorkerExit.TERMINATED
    retryable = True


class ServiceError(WorkerError):
    """A service answered with an error we do not expect (a crash, exit 1)."""

"""The worker's exceptions. Each carries the process exit code the reconciler maps.

Retryable failures (`retryable = True`) are worth running again later; permanent ones are
not: running the same task on the same input would fail the same way.
"""

from __future__ import annotations

from typing import ClassVar


class WorkerError(Exception):
    """Root of the worker's exceptions; `exit_code` is what the process returns."""

    exit_code: ClassVar[int] = 1
    retryable: ClassVar[bool] = False


class ConfigurationError(WorkerError):
    """A setting or the credentials file is missing or malformed (permanent, exit 2)."""

    exit_code = 2

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class RejectedInput(WorkerError):
    """The input file is bad; `where` (row, entry) and `cause` say why (permanent, exit 3)."""

    exit_code = 3

    def __init__(self, cause: str, where: str | None = None) -> None:
        super().__init__(f"{where}: {cause}" if where else cause)
        self.cause = cause
        self.where = where


class InputVanished(WorkerError):
    """The input blob is gone or was replaced (its etag changed) (exit 4)."""

    exit_code = 4


class TransientError(WorkerError):
    """A service is unavailable or failed in a way that may pass (retry, exit 75)."""

    exit_code = 75
    retryable = True


class WriteBudgetSpent(TransientError):
    """Cosmos DB kept throttling beyond the retry budget (retry later, exit 76)."""

    exit_code = 76


class Terminated(WorkerError):
    """The process was asked to stop (SIGTERM: task terminated, node preempted) (exit 143)."""

    exit_code = 143
    retryable = True


class ServiceError(WorkerError):
    """A service answered with an error we do not expect (a crash, exit 1)."""

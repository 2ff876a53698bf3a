"""What a task's end means for its run, by route kind: the built-in programs speak the
worker's exit codes (`states.verdict_for_task`); a `command` route's codes mean what its
`exit_codes` table says (0 and `success` succeed, `reject` rejects, `no_retry` fails at
once, anything else is retried). Also the retry policy a route gives its runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from batch_core.batch_service import TaskStatus
from batch_core.routebook import Route, Routebook
from batch_core.settings import Settings
from batch_core.states import RunState, TaskVerdict, verdict_for_task

# Batch failure codes of files the task needed or wrote: another attempt fails the same way
# until someone fixes the routes file, the assets or the pool identity's access.
_FILE_ACCESS = ("AccessDenied", "NotFound", "ContainerNotFound")


def _upload_failure(status: TaskStatus) -> TaskVerdict | None:
    """A task whose output files (its outputs, its stdout/stderr) did not reach storage ended
    failed whatever its exit code, as Batch reports it."""
    failure = status.failure or ""
    if status.state != "completed" or not failure.startswith("FileUpload"):
        return None
    retry = not any(word in failure.split(":", 1)[0] for word in _FILE_ACCESS)
    hint = "" if retry else " (check the pool identity's access to the containers)"
    return TaskVerdict(
        RunState.FAILED, retry, f"the task's output files were not uploaded: {failure}{hint}"
    )


def _builtin(route: Route, status: TaskStatus) -> TaskVerdict:
    return verdict_for_task(status.state, status.exit_code, status.failure)


def _command(route: Route, status: TaskStatus) -> TaskVerdict:
    if status.state != "completed":
        return verdict_for_task(status.state, status.exit_code, status.failure)
    failure = status.failure or ""
    if "MaxWallClockTimeExceeded" in failure:
        return TaskVerdict(
            RunState.FAILED,
            False,
            f"the command ran past its time limit; raise max_wall_clock of route {route.name!r}",
        )
    code = status.exit_code
    if code is None:
        retry = not any(word in failure.split(":", 1)[0] for word in _FILE_ACCESS)
        hint = "" if retry else " (check the route's files and the pool identity's access)"
        return TaskVerdict(RunState.FAILED, retry, f"the task did not run: {failure}{hint}")
    codes = route.exit_codes
    if code == 0 or code in codes.success:
        return TaskVerdict(RunState.SUCCEEDED, False, f"exit {code}")
    if code in codes.reject:
        return TaskVerdict(RunState.REJECTED, False, f"rejected by the command (exit {code})")
    if code in codes.no_retry:
        return TaskVerdict(RunState.FAILED, False, f"the command failed (exit {code}, no retry)")
    return TaskVerdict(RunState.FAILED, True, f"the command failed (exit {code})")


VERDICTS: dict[str, Callable[[Route, TaskStatus], TaskVerdict]] = {
    "zip": _builtin,
    "csv": _builtin,
    "command": _command,
}


def verdict(route: Route, status: TaskStatus) -> TaskVerdict:
    """The verdict on `status` (a task of `route`) for its run."""
    return _upload_failure(status) or VERDICTS[route.kind](route, status)


def max_attempts(book: Routebook, route: Route, settings: Settings) -> int:
    """How many attempts a file of the route gets: the route's, the routes file's default, else the
    setting."""
    return route.max_attempts or book.defaults.max_attempts or settings.max_attempts


def backoff(book: Routebook, route: Route, settings: Settings, attempt: int) -> dt.timedelta:
    """The wait before attempt `attempt + 1`: the route's backoff, doubled per attempt."""
    first = route.backoff if route.backoff is not None else book.defaults.backoff
    if first is None:
        first = dt.timedelta(seconds=settings.retry_backoff_seconds)
    delay: dt.timedelta = first * 2 ** (attempt - 1)
    return delay

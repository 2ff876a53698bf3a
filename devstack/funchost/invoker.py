"""Runs one function invocation, bounded by ``functionTimeout``, and logs one line for it.

A synchronous function runs on the worker's thread pool, as the Python worker runs it:
``PYTHON_THREADPOOL_THREAD_COUNT`` threads (1-32; unset, Python's default of
``min(32, cores + 4)``), so at most that many run at once whatever the triggers allow; an
``async`` one runs on a thread of its own. The caller waits with a deadline and keeps its
queue message alive meanwhile. Python cannot stop a thread: when the timeout passes, the
invocation is reported ``timed_out`` (its trigger retries as after a failure) and the thread
is left to finish in the background.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import inspect
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.functions import Context

from devstack.funchost.errors import ConfigError
from devstack.funchost.logs import scope

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 20.0
THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
MAX_THREAD_COUNT = 32  # the Python worker's limit


def thread_count(value: str | None) -> int:
    """The worker's thread pool size from its setting (unset: Python's default)."""
    if value is None or not value.strip():
        return min(MAX_THREAD_COUNT, (os.cpu_count() or 1) + 4)
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_THREAD_COUNT:
        raise ConfigError(
            f"{THREAD_COUNT_SETTING} must be a whole number from 1 to {MAX_THREAD_COUNT}, "
            f"got {value!r}"
        )
    return count


class Outcome(enum.StrEnum):
    """How an invocation ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class InvocationResult:
    invocation_id: str
    outcome: Outcome
    duration_ms: float
    error: str | None = None
    value: Any = None  # what the function returned (an HTTP trigger's response)

    @property
    def succeeded(self) -> bool:
        return self.outcome is Outcome.SUCCEEDED


class InvocationContext(Context):
    """The ``context`` argument a function may ask for: an ``azure.functions.Context``."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._local = threading.local()
        self._local.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def trace_context(self) -> Any:
        return None  # no distributed tracing locally

    @property
    def retry_context(self) -> Any:
        return None  # retries come from the queue's dequeue count, not a retry policy


class Invoker:
    """Invokes functions with the host's timeout and counts what is still running."""

    def __init__(self, timeout: dt.timedelta | None, app_dir: str, threads: int = 1) -> None:
        self._timeout = timeout.total_seconds() if timeout is not None else None
        self._app_dir = app_dir
        self._running = 0
        self._idle = threading.Condition()
        self._pool = _WorkerThreads(threads)

    def invoke(
        self,
        function_name: str,
        call: Callable[..., Any],
        arguments: Mapping[str, Any],
        *,
        wants_context: bool,
        fields: Mapping[str, Any],
        heartbeat: Callable[[], None] | None = None,
        after: Callable[[], Mapping[str, Any]] | None = None,
    ) -> InvocationResult:
        invocation_id = str(uuid.uuid4())
        kwargs = dict(arguments)
        if wants_context:
            kwargs["context"] = InvocationContext(invocation_id, function_name, self._app_dir)
        outcome: list[BaseException | None] = []
        returned: list[Any] = []
        finished = threading.Event()
        started = time.monotonic()

        def run() -> None:
            scope.function_name, scope.invocation_id = function_name, invocation_id
            try:
                result = call(**kwargs)
                if inspect.isawaitable(result):
                    result = asyncio.run(_awaited(result))
                returned.append(result)
                outcome.append(None)
            except BaseException as e:  # the function's failure is the invocation's result
                outcome.append(e)
            finally:
                scope.function_name = scope.invocation_id = None
                finished.set()

        log.info(
            "Executing 'Functions.%s' (Id=%s)",
            function_name,
            invocation_id,
            extra={
                "category": f"Function.{function_name}",
                "fields": {
                    "event": "invocation_started",
                    "function": function_name,
                    "invocation_id": invocation_id,
                    **fields,
                },
            },
        )
        with self._idle:
            self._running += 1
        if inspect.iscoroutinefunction(call):
            name = f"invocation-{function_name}"
            threading.Thread(target=run, name=name, daemon=True).start()
        else:
            self._pool.submit(run)
        try:
            result = self._conclude(
                function_name, invocation_id, finished, started, outcome, fields, heartbeat, after
            )
            return dataclasses.replace(result, value=returned[0]) if returned else result
        finally:
            # Counted until its caller stops waiting: a timed-out invocation left running
            # in the background does not hold up shutdown.
            self._finish()

    def _conclude(
        self,
        function_name: str,
        invocation_id: str,
        finished: threading.Event,
        started: float,
        outcome: list[BaseException | None],
        fields: Mapping[str, Any],
        heartbeat: Callable[[], None] | None,
        after: Callable[[], Mapping[str, Any]] | None,
    ) -> InvocationResult:
        timed_out = not self._wait(finished, started, heartbeat)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        error = outcome[0] if outcome else None
        if timed_out:
            result = InvocationResult(
                invocation_id,
                Outcome.TIMED_OUT,
                duration_ms,
                f"timed out after {self._timeout}s (functionTimeout)",
            )
        elif error is not None:
            result = InvocationResult(
                invocation_id, Outcome.FAILED, duration_ms, f"{type(error).__name__}: {error}"
            )
        else:
            result = InvocationResult(invocation_id, Outcome.SUCCEEDED, duration_ms)
        self._log_result(function_name, result, fields, after, error)
        return result

    def _wait(
        self, finished: threading.Event, started: float, heartbeat: Callable[[], None] | None
    ) -> bool:
        while True:
            remaining = (
                None if self._timeout is None else self._timeout - (time.monotonic() - started)
            )
            if remaining is not None and remaining <= 0:
                return False
            step = HEARTBEAT_SECONDS if remaining is None else min(remaining, HEARTBEAT_SECONDS)
            if finished.wait(step):
                return True
            if heartbeat is not None:
                heartbeat()

    def _log_result(
        self,
        function_name: str,
        result: InvocationResult,
        fields: Mapping[str, Any],
        after: Callable[[], Mapping[str, Any]] | None,
        error: BaseException | None,
    ) -> None:
        extra_fields = dict(after()) if after is not None else {}
        level = logging.INFO if result.succeeded else logging.ERROR
        status = {"succeeded": "Succeeded", "failed": "Failed", "timed_out": "Timeout"}
        log.log(
            level,
            "Executed 'Functions.%s' (%s, Id=%s, Duration=%sms)",
            function_name,
            status[result.outcome],
            result.invocation_id,
            result.duration_ms,
            exc_info=(type(error), error, error.__traceback__) if error is not None else None,
            extra={
                "category": f"Function.{function_name}",
                "fields": {
                    "event": "invocation",
                    "function": function_name,
                    "invocation_id": result.invocation_id,
                    "outcome": str(result.outcome),
                    "duration_ms": result.duration_ms,
                    "error": result.error,
                    **fields,
                    **extra_fields,
                },
            },
        )

    def _finish(self) -> None:
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    @property
    def running(self) -> int:
        with self._idle:
            return self._running

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no invocation runs; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    @property
    def timeout_seconds(self) -> float | None:
        return self._timeout


class _WorkerThreads:
    """A fixed set of daemon threads taking calls in order. Daemon threads, unlike a
    ThreadPoolExecutor's, do not hold up the process's exit behind a timed-out invocation."""

    def __init__(self, count: int) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        for i in range(count):
            threading.Thread(target=self._serve, name=f"invocation-{i}", daemon=True).start()

    def submit(self, call: Callable[[], None]) -> None:
        self._calls.put(call)

    def _serve(self) -> None:
        while True:
            self._calls.get()()


async def _awaited(awaitable: Any) -> Any:
    return await awaitable

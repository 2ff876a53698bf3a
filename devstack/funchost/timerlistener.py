"""Runs one timer-triggered function on its schedule, in UTC.

One thread per timer and invocations run one at a time, so a function never overlaps
itself. After a run the next occurrence is computed from when that occurrence was due;
if the run outlasted it, occurrences that passed meanwhile are skipped and the timer
waits for the first one after the run ended. At start-up a past-due monitored timer
runs once with ``past_due=True``; otherwise ``run_on_startup`` runs it once. With a
listener lock, the timer runs only on the host holding it (one host per host id).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from azure.core.exceptions import AzureError
from azure.functions.timer import TimerRequest

from devstack.funchost.catalog import TimerFunction
from devstack.funchost.invoker import Invoker
from devstack.funchost.listenerlock import ListenerLock
from devstack.funchost.schedule import upcoming
from devstack.funchost.schedulemonitor import ScheduleMonitor, ScheduleStatus

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
_LONGEST_SLEEP = 3600.0
_STATUS_RETRY_SECONDS = 5.0
# The real host retries a held listener lock every minute; locally a few seconds will do.
_LOCK_RETRY_SECONDS = 5.0
_LOCK_CHECK = 1.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TimerListener:
    """Waits for each occurrence of one timer function and invokes it."""

    def __init__(
        self,
        function: TimerFunction,
        monitor: ScheduleMonitor | None,
        invoker: Invoker,
        lock: ListenerLock | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._function = function
        self._monitor = monitor if function.use_monitor else None
        self._invoker = invoker
        self._lock = lock
        self._clock = clock
        self._status: ScheduleStatus | None = None
        self._started = False

    def start_status(self) -> tuple[ScheduleStatus, bool]:
        """Load (or create) the schedule status; True when an occurrence was missed."""
        now = self._clock()
        if self._monitor is None:
            return ScheduleStatus(None, self._next(now), None), False
        stored = self._monitor.get(self._function.function_id)
        return self._monitor.check_past_due(
            self._function.function_id, now, self._function.schedule, stored
        )

    def run(self, stop: threading.Event) -> None:
        """Serve the schedule until ``stop``, only while holding the listener lock."""
        while self._hold_lock(stop):
            try:
                self._serve(stop)
            finally:
                if self._lock is not None:
                    self._lock.release()

    def _hold_lock(self, stop: threading.Event) -> bool:
        if self._lock is None:
            return not stop.is_set() and not self._started
        told = False
        while not stop.is_set():
            try:
                if self._lock.try_acquire():
                    return True
            except AzureError as e:
                log.warning("timer %s cannot take its listener lock: %s", self._function.name, e)
            if not told:
                log.info(
                    "timer %s waits: another host holds %s",
                    self._function.name,
                    self._lock.name,
                    extra={
                        "fields": {"event": "timer_lock_waiting", "function": self._function.name}
                    },
                )
                told = True
            stop.wait(_LOCK_RETRY_SECONDS)
        return False

    def _lost_lock(self) -> bool:
        return self._lock is not None and self._lock.lost.is_set()

    def _serve(self, stop: threading.Event) -> None:
        function = self._function
        while True:
            try:
                self._status, past_due = self.start_status()
                break
            except AzureError as e:
                log.warning("timer %s cannot read its schedule status yet: %s", function.name, e)
                if stop.wait(_STATUS_RETRY_SECONDS):
                    return
        log.info(
            "timer %s: schedule %s (UTC), next occurrences %s",
            function.name,
            function.schedule_text,
            [t.isoformat() for t in upcoming(function.schedule, self._clock(), 5)],
            extra={
                "fields": {
                    "event": "timer_scheduled",
                    "function": function.name,
                    "monitor": self._monitor is not None,
                    "next": self._status.next.isoformat(),
                }
            },
        )
        if past_due:
            self._fire(self._clock(), past_due=True)
        elif function.run_on_startup and not self._started:
            self._fire(self._clock(), run_on_startup=True)
        self._started = True
        while not stop.is_set() and not self._lost_lock():
            delay = (self._status.next - self._clock()).total_seconds()
            if delay > 0:
                stop.wait(min(delay, _LONGEST_SLEEP if self._lock is None else _LOCK_CHECK))
                continue
            self._fire(self._clock())

    def _next(self, after: dt.datetime) -> dt.datetime:
        following = self._function.schedule.next_after(after)
        return following if following is not None else dt.datetime.max.replace(tzinfo=dt.UTC)

    def _fire(
        self, fired: dt.datetime, *, past_due: bool = False, run_on_startup: bool = False
    ) -> None:
        function = self._function
        status = self._status
        assert status is not None
        request = TimerRequest(
            past_due=past_due,
            schedule_status=status.to_document() if self._monitor is not None else None,
            schedule={"AdjustForDST": True},
        )
        self._invoker.invoke(
            function.name,
            function.call,
            {function.argument: request},
            wants_context=function.wants_context,
            fields={
                "trigger": "timer",
                "past_due": past_due,
                "run_on_startup": run_on_startup,
                "scheduled_for": status.next.isoformat() if not run_on_startup else None,
                "dequeue_count": None,
            },
        )
        # A timer that fired a hair early counts as fired at its due time, so the same
        # occurrence is not computed as "next" again.
        due = status.next if not (past_due or run_on_startup) and status.next > fired else fired
        finished = self._clock()
        following = self._next(due)
        if following <= finished:
            # Last must be what Next is computed from, or a restart reads a schedule change.
            due, following = finished, self._next(finished)
            log.info(
                "timer %s overran its next occurrence; skipping to %s",
                function.name,
                following.isoformat(),
                extra={"fields": {"event": "timer_skipped", "function": function.name}},
            )
        self._status = ScheduleStatus(due, following, finished)
        if self._monitor is not None:
            self._monitor.update(function.function_id, self._status)

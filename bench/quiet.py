"""A quiet machine before each benchmark of the suite: the processes the previous one started
are gone and the 1-minute load average is under a threshold, each wait bounded.

A benchmark's servers may run in sessions of their own, so they are not found by process
group after the benchmark ended: `ProcessWatch` notes the benchmark's descendants while it
runs, and `wait_quiet` waits for every one of them to be gone.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import psutil

# Quiet: the 1-minute load average under this many runnable processes per core, plus a little.
LOAD_PER_CORE = 0.5
LOAD_SLACK = 0.3
MAX_WAIT_SECONDS = 120.0
_POLL_SECONDS = 1.0


def load_threshold(cores: int | None = None) -> float:
    """The 1-minute load average under which the machine counts as quiet."""
    return round(LOAD_PER_CORE * (cores or os.cpu_count() or 1) + LOAD_SLACK, 2)


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


class ProcessWatch:
    """The descendants of one process, noted every second while it runs (and once more when
    asked), as (pid, create time) so that a reused pid is not mistaken for one of them."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._seen: set[tuple[int, float]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            self.note()

    def note(self) -> None:
        """Note the process's current descendants."""
        with contextlib.suppress(psutil.Error):
            found = psutil.Process(self._pid).children(recursive=True)
            with self._lock:
                for child in found:
                    with contextlib.suppress(psutil.Error):
                        self._seen.add((child.pid, child.create_time()))

    def stop(self) -> set[tuple[int, float]]:
        """Stop watching; every descendant seen."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            return set(self._seen)


def still_running(seen: set[tuple[int, float]]) -> list[int]:
    """The pids of `seen` that still run (the same process, not a reused pid; zombies
    waiting for their parent count as gone)."""
    alive = []
    for pid, created in seen:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return sorted(alive)


def wait_quiet(
    leftovers: set[tuple[int, float]] | None = None,
    max_wait: float = MAX_WAIT_SECONDS,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Wait until the processes in `leftovers` are gone and the 1-minute load average is under
    `threshold`, at most `max_wait` seconds in all; what was waited for, as JSON-ready values
    (`timed_out` says whether the machine was still busy when the wait ended)."""
    limit = load_threshold() if threshold is None else threshold
    started = time.monotonic()
    before = load_average()
    deadline = started + max_wait
    running = still_running(leftovers or set())
    while running and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        running = still_running(leftovers or set())
    processes_gone = time.monotonic() - started
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    return {
        "load_threshold_1min": limit,
        "max_wait_seconds": max_wait,
        "load_before_wait": before,
        "load_after_wait": load_average(),
        "waited_seconds": round(time.monotonic() - started, 1),
        "waited_for_processes_seconds": round(processes_gone, 1),
        "previous_processes_still_running": running,
        "timed_out": bool(running) or os.getloadavg()[0] >= limit,
    }

"""The task log: what one run did, as JSON for the `logs` container.

It holds the input, counts, timings and the names of the settings and credential keys in use.
It never holds a secret value: only names, and messages the worker itself wrote.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from worker.settings import WorkerSettings
from worker.telemetry import Tracing

SCHEMA_VERSION = 1


def configure_logging() -> None:
    """Plain lines on stderr (Batch keeps stderr.txt); the task log JSON is separate."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # The SDKs log every request at INFO (with headers); warnings are enough.
    logging.getLogger("azure").setLevel(logging.WARNING)


class TaskLog:
    """The task's log document: settings in use, phase timings, exit code and peak memory."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._started = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.timings: dict[str, float] = {}
        self.counts: dict[str, Any] = {}
        self.credential_keys: tuple[str, ...] = ()
        self.input_bytes: int | None = None
        self.outcome: str | None = None
        self.reason: str | None = None
        self.error: str | None = None
        self.exit_code: int | None = None
        self.peak_rss_bytes: int | None = None
        self.tracing = Tracing()  # a span per phase once telemetry is on

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as the phase `name`."""
        start = time.monotonic()
        try:
            with self.tracing.phase(name):
                yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.monotonic() - start, 3)

    def finish(self, exit_code: int) -> None:
        """Record the exit code, the total time and the peak memory."""
        self.exit_code = exit_code
        self.timings["total"] = round(time.monotonic() - self._started, 3)
        self.peak_rss_bytes = peak_rss_bytes()

    def as_json(self) -> dict[str, Any]:
        """The log as JSON-ready values."""
        s = self._settings
        return {
            "schema_version": SCHEMA_VERSION,
            "file_key": s.file_key,
            "route": s.route.value,
            "input": {
                "container": s.input_container,
                "name": s.input_blob,
                "etag": s.input_etag,
                "bytes": self.input_bytes,
            },
            "task": {
                "job_id": s.job_id,
                "task_id": s.task_id,
                "attempt": s.attempt,
                "host": platform.node(),
            },
            "started_at": self.started_at,
            "outcome": self.outcome,
            "reason": self.reason,
            "error": self.error,
            "exit_code": self.exit_code,
            "peak_rss_bytes": self.peak_rss_bytes,
            "counts": self.counts,
            "timings_seconds": self.timings,
            "settings_used": list(s.names_used),
            "credential_keys_present": list(self.credential_keys),
        }

    def encode(self) -> bytes:
        """The log as stable JSON bytes."""
        return (json.dumps(self.as_json(), sort_keys=True, indent=2) + "\n").encode()


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory (VmHWM), or None where /proc is not available.

    Not getrusage's ru_maxrss: that also counts the memory of the parent process this one was
    forked from, before exec.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None

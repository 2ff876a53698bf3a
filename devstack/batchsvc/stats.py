"""Request counters per Batch operation, read by the benchmarks through the admin endpoint."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RequestStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()

    def record(self, operation: str, status: int) -> None:
        with self._lock:
            self._counts[operation] += 1
            self._statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._counts.values()),
                "operations": dict(sorted(self._counts.items())),
                "statuses": dict(sorted(self._statuses.items())),
            }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._statuses.clear()

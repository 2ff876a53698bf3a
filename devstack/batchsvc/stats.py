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
        self._auth: Counter[str] = Counter()

    def authenticated(self, scheme: str, accepted: bool) -> None:
        """Count a request's authentication by scheme (SharedKey, Bearer), accepted or not."""
        with self._lock:
            self._auth[f"{scheme} {'accepted' if accepted else 'refused'}"] += 1

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
                "authentication": dict(sorted(self._auth.items())),
            }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._statuses.clear()
            self._auth.clear()

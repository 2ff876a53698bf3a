"""What every twin shares: a count of the requests it answered, by operation, and failures a
test plans for it (the `batch_core.errors` types the real adapter raises)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from batch_core.errors import DropbatchError


@dataclass
class _Fault:
    error: DropbatchError
    left: int | None  # None: every matching call
    when: Callable[..., bool] | None


class Twin:
    """Base of the in-memory twins. Each public port method calls `_request` first, with the
    name of the request the real service would get and the call's arguments."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self._faults: dict[str, list[_Fault]] = {}

    def fail(
        self,
        operation: str,
        error: DropbatchError,
        *,
        times: int | None = 1,
        when: Callable[..., bool] | None = None,
    ) -> None:
        """Make the next `times` requests `operation` (every one when None) raise `error`;
        with `when`, only requests whose arguments satisfy `when(*args)`."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        self._faults.setdefault(operation, []).append(_Fault(error, times, when))

    def heal(self) -> None:
        """Forget every planned failure."""
        self._faults.clear()

    def _request(self, operation: str, *args: object) -> None:
        self.requests[operation] += 1
        for fault in self._faults.get(operation, []):
            if fault.left == 0 or (fault.when is not None and not fault.when(*args)):
                continue
            if fault.left is not None:
                fault.left -= 1
            raise fault.error

"""Where one invocation's time goes: a stopwatch per phase (reading the blob's properties, the
ledger, planning the task, waiting in the submitter's window, the Batch call), kept for the
current thread only and logged as one line when the invocation ends. Costs two clock reads per
phase; outside `invocation` nothing is kept."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger(__name__)

_current: ContextVar[dict[str, float] | None] = ContextVar("dropbatch_phases", default=None)


@contextmanager
def invocation(name: str) -> Iterator[None]:
    """Time the block and the phases inside it; one `invocation_phases` log line at the end
    with `<phase>_ms`, `total_ms` and `other_ms` (what no phase took)."""
    kept: dict[str, float] = {}
    token = _current.set(kept)
    started = time.monotonic()
    try:
        yield
    finally:
        total = time.monotonic() - started
        _current.reset(token)
        fields: dict[str, float | str] = {"event": "invocation_phases", "phases_of": name}
        timed = 0.0
        for phase, value in kept.items():
            if phase.endswith("_count"):
                fields[phase] = value
            else:
                fields[f"{phase}_ms"] = round(value * 1000, 1)
                timed += value
        fields["total_ms"] = round(total * 1000, 1)
        fields["other_ms"] = round(max(total - timed, 0.0) * 1000, 1)
        log.info("%s phases", name, extra={"fields": fields})


@contextmanager
def timed(phase: str) -> Iterator[None]:
    """Add the block's duration to `phase` of the current invocation (if one is timed)."""
    started = time.monotonic()
    try:
        yield
    finally:
        note(phase, time.monotonic() - started)


def note(phase: str, seconds: float) -> None:
    """Add `seconds` to `phase` (a name ending in `_count` is a number, not a duration)."""
    kept = _current.get()
    if kept is not None:
        kept[phase] = kept.get(phase, 0.0) + seconds

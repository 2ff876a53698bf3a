"""The sweep: blobs in the incoming container that no trigger recorded (a missed event) are
submitted, once they are old enough that their own trigger would have come."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial

from batch_core import intake
from batch_core.keys import file_key
from batch_core.pipeline import Pipeline
from batch_core.routebook import is_ignored
from batch_core.tickreport import TickReport

log = logging.getLogger(__name__)

# A blob younger than this is left to its trigger before the sweep submits it.
SWEEP_GRACE = dt.timedelta(seconds=30)

# Runs one step and reports its error instead of raising (the tick's error policy).
Guard = Callable[[str, Callable[[], object]], str | None]


def sweep(p: Pipeline, now: dt.datetime, report: TickReport, guard: Guard) -> None:
    """Submit each unrecorded blob of `incoming`; each blob is guarded on its own."""
    container = p.settings.container_incoming
    # A blob young enough for its own trigger to come is not looked up at all: under a burst
    # that is every blob listed.
    blobs = [
        b
        for b in p.blobs.list(container)
        if (b.last_modified is None or now - b.last_modified >= SWEEP_GRACE)
        and not is_ignored(b.name, p.settings.ignore_prefixes)
    ]
    keys = [file_key(p.blobs.account, container, b.name, b.etag) for b in blobs]
    known = p.ledger.known_keys(keys)  # these files' runs only, never the history
    for blob, key in zip(blobs, keys, strict=True):
        if key in known:
            continue
        log.warning("sweep: %s/%s has no run (missed trigger); submitting it", container, blob.name)
        if guard(f"sweep of {blob.name}", partial(intake.receive, p, blob, now)) is None:
            report.swept += 1

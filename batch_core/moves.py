"""Moving a run when other deliveries of the same event may move it too: the first move
stands, and the others read it back instead of failing."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from batch_core.errors import ConflictError
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.states import RunState

log = logging.getLogger(__name__)


def advance_or_reread(
    p: Pipeline, run: Run, state: RunState, reason: str, now: dt.datetime, **changes: Any
) -> Run:
    """Advance `run`; when another delivery moved it first (a stale etag), return the run as
    that delivery left it."""
    try:
        return p.ledger.advance(run, state, reason, now, **changes)
    except ConflictError:
        stored = p.ledger.get(run.key)
        if stored is None:
            raise
        log.info("run %s was moved concurrently to %s; leaving it", run.key, stored.state)
        return stored

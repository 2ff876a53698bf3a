"""When a run has not moved for too long: the rule the stuck alert, the status page and the
fan-out flow share, and the grace a recorded but unplanned run gets before it is picked up."""

from __future__ import annotations

import datetime as dt

from batch_core.alerts import stuck_alert
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.tickreport import TickReport

# A run recorded but never planned (its trigger died in between) is picked up after this.
RECEIVED_GRACE = dt.timedelta(seconds=30)


def is_stuck(run: Run, now: dt.datetime, stuck_after_seconds: int) -> bool:
    """An active run that has not moved for `stuck_after_seconds` (the stuck alert's rule)."""
    limit = dt.timedelta(seconds=stuck_after_seconds)
    return not run.state.terminal and now - run.updated_at >= limit


def check_stuck(
    p: Pipeline, run: Run, now: dt.datetime, report: TickReport, error: str | None = None
) -> None:
    """Alert (once) on a run that has not moved for `stuck_after_seconds`."""
    if not is_stuck(run, now, p.settings.stuck_after_seconds):
        return
    report.alerts += int(p.alerts.raise_alert(stuck_alert(run, now, error)))

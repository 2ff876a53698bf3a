"""TaskWatch: the Batch task status of each active run, in few requests.

A job with a handful of active runs is read task by task. A job with many is read with one
paged list of the tasks that changed state since the oldest of those runs was last updated
(`stateTransitionTime ge ...`), so a tick costs requests in proportion to what changed, not to
the job's history. A run whose task is not in that list has not changed; once in a while
(RECHECK) it is read on its own, which also finds planned tasks that were never created; a
run waiting for its next attempt is always read on its own (its task is created after the
backoff).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from enum import Enum

from batch_core.batch_service import TaskStatus
from batch_core.errors import PermanentError
from batch_core.ports import BatchPort
from batch_core.run import Run

log = logging.getLogger(__name__)

BULK_THRESHOLD = 10  # more active runs than this in one job: list instead of get
CLOCK_SKEW = dt.timedelta(minutes=5)  # between our clock and the service's
RECHECK = dt.timedelta(minutes=10)  # an unchanged run is read on its own this often


class Unchanged(Enum):
    """The marker of a task whose status has not changed since it was last looked at."""

    TOKEN = "unchanged"


UNCHANGED = Unchanged.TOKEN


class TaskWatch:
    """Task statuses for one reconcile pass: asked one by one, or listed per job when a job has many
    runs."""

    def __init__(self, batch: BatchPort, runs: Iterable[Run], now: dt.datetime) -> None:
        self._batch = batch
        self._now = now
        self._listed: dict[str, dict[str, TaskStatus]] = {}
        by_job: dict[str, list[Run]] = defaultdict(list)
        for run in runs:
            if run.job_id and run.task_id:
                by_job[run.job_id].append(run)
        self._bulk = {job: rs for job, rs in by_job.items() if len(rs) > BULK_THRESHOLD}

    def status(self, run: Run) -> TaskStatus | Unchanged | None:
        """The task's status, None if the task does not exist, or UNCHANGED."""
        assert run.job_id and run.task_id, "only planned runs are watched"
        if run.job_id in self._bulk:
            listed = self._listing(run.job_id)
            if listed is not None:
                if run.task_id in listed:
                    return listed[run.task_id]
                # A next attempt planned after a backoff has no task yet: it is read on its
                # own, so that it is created once the backoff is over, not a RECHECK later.
                if self._now - run.updated_at < RECHECK and run.next_attempt_at is None:
                    return UNCHANGED
        return self._batch.task_status(run.job_id, run.task_id)

    def _listing(self, job_id: str) -> dict[str, TaskStatus] | None:
        if job_id not in self._listed:
            since = min(r.updated_at for r in self._bulk[job_id]) - CLOCK_SKEW
            try:
                self._listed[job_id] = self._batch.task_statuses(job_id, since)
            except PermanentError as e:
                # A service that refuses the filter: read the tasks one by one instead.
                log.warning("listing changed tasks of %s failed (%s); reading each", job_id, e)
                self._bulk.pop(job_id)
                return None
        return self._listed[job_id]

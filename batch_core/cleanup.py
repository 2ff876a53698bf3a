"""Cleanup: jobs of past days that have drained are terminated, then deleted after the
retention period; so are the jobs of fan-out files that ended (their run is no longer
active). Each job is handled on its own; one log line per action."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from batch_core.batch_service import JobInfo
from batch_core.errors import DropbatchError
from batch_core.jobs import day_of_job, is_fanout_job
from batch_core.pipeline import Pipeline

log = logging.getLogger(__name__)


def sweep(p: Pipeline, now: dt.datetime, busy_jobs: frozenset[str] = frozenset()) -> dict[str, int]:
    """`busy_jobs`: jobs that active runs still point at; they are never terminated."""
    done = {"terminated": 0, "deleted": 0, "parts_expired": 0}
    done["parts_expired"] = expire_parts(p, now)
    retention = dt.timedelta(days=p.settings.job_retention_days)
    for job in p.batch.jobs(prefix=f"{p.settings.batch_job_prefix}-"):
        if is_fanout_job(p.settings, job.id):
            _fanout_job(p, job, now, retention, busy_jobs, done)
            continue
        day = day_of_job(p.settings, job.id)
        if day is None or day >= now.date() or job.id in busy_jobs:
            continue  # not a job of a past day (today's, or one that is not ours)
        try:
            if job.state == "active" and p.batch.unfinished_tasks(job.id) == 0:
                p.batch.terminate_job(job.id)
                log.info("cleanup: terminated drained job %s", job.id)
                done["terminated"] += 1
            elif job.state == "completed" and (
                job.created_at is None or now - job.created_at > retention
            ):
                p.batch.delete_job(job.id)
                log.info("cleanup: deleted job %s (older than %s)", job.id, retention)
                done["deleted"] += 1
        except DropbatchError as e:
            log.warning("cleanup of job %s failed: %s", job.id, e)
    return done


# A fan-out job younger than this is left alone even when no active run names it yet (its
# run may be being admitted while cleanup lists the jobs).
FANOUT_GRACE = dt.timedelta(hours=1)


def _fanout_job(
    p: Pipeline,
    job: JobInfo,
    now: dt.datetime,
    retention: dt.timedelta,
    busy: frozenset[str],
    done: dict[str, int],
) -> None:
    """The job of a fan-out file: ended when its run has ended (the run ends it itself; this
    catches one left behind), deleted once it is older than the retention."""
    if job.id in busy:
        return
    age = now - job.created_at if job.created_at is not None else retention + FANOUT_GRACE
    try:
        if job.state == "active" and age > FANOUT_GRACE:
            p.batch.terminate_job(job.id)
            log.info("cleanup: terminated job %s of an ended fan-out file", job.id)
            done["terminated"] += 1
        elif job.state == "completed" and age > retention:
            p.batch.delete_job(job.id)
            log.info("cleanup: deleted fan-out job %s (older than %s)", job.id, retention)
            done["deleted"] += 1
    except DropbatchError as e:
        log.warning("cleanup of job %s failed: %s", job.id, e)


def expire_parts(p: Pipeline, now: dt.datetime) -> int:
    """Delete CSV files extracted from zips once they and their zip have ended and the
    retention has passed. Never earlier: a zip task that runs again skips children that exist,
    and a deleted child would be extracted (and processed) a second time."""
    cutoff = now - dt.timedelta(hours=p.settings.parts_retention_hours)
    expired = 0
    for run in p.ledger.expirable_parts(cutoff):
        try:
            parent = p.ledger.get(run.parent) if run.parent else None
            if parent is not None and not parent.state.terminal:
                continue
            p.blobs.delete(run.container, run.name, run.etag)
            p.ledger.save(dataclasses.replace(run, input_removed=True))
            log.info("cleanup: expired extracted file %s/%s", run.container, run.name)
            expired += 1
        except DropbatchError as e:
            log.warning("cleanup of %s failed: %s", run.name, e)
    return expired

"""Cleanup: jobs of past days that have drained are terminated, then deleted after the
retention period; completed jobs of fan-out files are deleted after it too. Each job is
handled on its own; one log line per action."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from batch_core.batch_service import JobInfo
from batch_core.errors import DropbatchError
from batch_core.jobs import day_of_job, is_fanout_job
from batch_core.originals import KEEP
from batch_core.pipeline import Pipeline
from batch_core.poolstate import idle_pools_to_delete

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
    done["pools_deleted"] = delete_idle_pools(p, now)
    return done


def delete_idle_pools(p: Pipeline, now: dt.datetime) -> int:
    """Delete the pools dropbatch created with `delete_when_idle` once they have had nothing
    to do for that long (a file that lands later has its pool created again). External
    pools, and pools with no such setting, are never deleted."""
    plans = [plan for plan in p.pools.values() if plan.managed == "data" and plan.delete_when_idle]
    deleted = 0
    for plan in plans:
        try:
            use = p.batch.pool_use(plan.pool_id)
            if use is None or plan.pool_id not in idle_pools_to_delete([plan], [use], now):
                continue
            p.batch.delete_pool(plan.pool_id)
            log.info("cleanup: deleted pool %s, idle since %s", plan.pool_id, use.last_activity)
            deleted += 1
        except DropbatchError as e:
            log.warning("cleanup of pool %s failed: %s", plan.pool_id, e)
    return deleted


def _fanout_job(
    p: Pipeline,
    job: JobInfo,
    now: dt.datetime,
    retention: dt.timedelta,
    busy: frozenset[str],
    done: dict[str, int],
) -> None:
    """The job of a fan-out file, deleted once it has completed and is older than the
    retention. Its file's run ends it (terminates it, or Batch ends it after the merge), so
    an active fan-out job belongs to a file that is still going: it is left alone."""
    if job.id in busy or job.state != "completed":
        return
    if job.created_at is not None and now - job.created_at <= retention:
        return
    try:
        p.batch.delete_job(job.id)
        log.info("cleanup: deleted fan-out job %s (older than %s)", job.id, retention)
        done["deleted"] += 1
    except DropbatchError as e:
        log.warning("cleanup of job %s failed: %s", job.id, e)


def expire_parts(p: Pipeline, now: dt.datetime) -> int:
    """Delete CSV files extracted from zips once they and their zip have ended and the
    retention has passed. Never earlier: a zip task that runs again skips children that exist,
    and a deleted child would be extracted (and processed) a second time. Only when ended
    files stay in `incoming` (`keep`): otherwise they leave it as any file does (`originals`)."""
    if p.settings.terminal_originals != KEEP:
        return 0
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

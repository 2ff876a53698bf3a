"""Job ids: one job of the day per pool, `<prefix>-YYYYMMDD` for the default pool (today's
name) and `<prefix>-<pool alias>-YYYYMMDD` for the others; one job per fan-out file,
`<prefix>-fan-<first 16 of its file key>`. Cleanup ends only jobs it can read
back as one of its own days; any other id under the prefix is not a day job."""

from __future__ import annotations

import datetime as dt
import re

from batch_core.routebook.pools import DEFAULT_POOL
from batch_core.settings import Settings

FANOUT_KEY_CHARS = 16
_FANOUT = re.compile(rf"fan-[0-9a-f]{{{FANOUT_KEY_CHARS}}}")
_DAY = re.compile(r"(?:(?P<alias>[A-Za-z0-9_-]+)-)?(?P<day>\d{8})")


def job_id_for(settings: Settings, day: dt.date, pool_alias: str = DEFAULT_POOL) -> str:
    """The job of `day` on the pool called `pool_alias` in the routes file."""
    if pool_alias == DEFAULT_POOL:
        return f"{settings.batch_job_prefix}-{day:%Y%m%d}"
    return f"{settings.batch_job_prefix}-{pool_alias}-{day:%Y%m%d}"


def fanout_job_id(settings: Settings, file_key: str) -> str:
    """The job of one fan-out file: its plan, members and merge (`<prefix>-fan-<key16>`)."""
    return f"{settings.batch_job_prefix}-fan-{file_key[:FANOUT_KEY_CHARS]}"


def is_fanout_job(settings: Settings, job_id: str) -> bool:
    """Whether the job is a fan-out file's own job (not a job of the day)."""
    prefix = f"{settings.batch_job_prefix}-"
    return job_id.startswith(prefix) and _FANOUT.fullmatch(job_id[len(prefix) :]) is not None


def day_of_job(settings: Settings, job_id: str) -> dt.date | None:
    """The day of a job of the day, None for any other job id (a fan-out file's job, say)."""
    prefix = f"{settings.batch_job_prefix}-"
    if not job_id.startswith(prefix) or is_fanout_job(settings, job_id):
        return None
    found = _DAY.fullmatch(job_id[len(prefix) :])
    if found is None:
        return None
    try:
        return dt.datetime.strptime(found["day"], "%Y%m%d").date()
    except ValueError:
        return None

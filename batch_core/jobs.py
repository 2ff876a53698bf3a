"""Job ids: one job of the day per pool, `<prefix>-YYYYMMDD` for the default pool (today's
name) and `<prefix>-<pool alias>-YYYYMMDD` for the others. Cleanup ends only jobs it can read
back as one of its own days; any other id under the prefix is not a day job."""

from __future__ import annotations

import datetime as dt
import re

from batch_core.routebook.pools import DEFAULT_POOL
from batch_core.settings import Settings

_DAY = re.compile(r"(?:(?P<alias>[A-Za-z0-9_-]+)-)?(?P<day>\d{8})")


def job_id_for(settings: Settings, day: dt.date, pool_alias: str = DEFAULT_POOL) -> str:
    """The job of `day` on the pool called `pool_alias` in the routes file."""
    if pool_alias == DEFAULT_POOL:
        return f"{settings.batch_job_prefix}-{day:%Y%m%d}"
    return f"{settings.batch_job_prefix}-{pool_alias}-{day:%Y%m%d}"


def day_of_job(settings: Settings, job_id: str) -> dt.date | None:
    """The day of a job of the day, None for any other job id."""
    prefix = f"{settings.batch_job_prefix}-"
    if not job_id.startswith(prefix):
        return None
    found = _DAY.fullmatch(job_id[len(prefix) :])
    if found is None:
        return None
    try:
        return dt.datetime.strptime(found["day"], "%Y%m%d").date()
    except ValueError:
        return None

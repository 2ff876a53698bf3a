"""Timestamps, durations and entity tags as the Batch REST API writes them."""

from __future__ import annotations

import itertools
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

# Batch's "infinite" duration, what it reports for unset time constraints.
UNBOUNDED = "P10675199DT2H48M5.4775807S"

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)

_etag_lock = threading.Lock()
_etag_counter = itertools.count()


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the way Batch writes `creationTime` and friends."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Batch writes seven fractional digits; Python reads at most six.
    match = re.match(r"^(.*\.\d{6})\d+(.*)$", value)
    if match:
        value = match.group(1) + match.group(2)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def rfc1123(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_rfc1123(text: str) -> datetime:
    return parsedate_to_datetime(text)


def etag() -> str:
    """A fresh opaque entity tag in Batch's `0x8D...` style."""
    with _etag_lock:
        return f"0x{time.time_ns() // 100 + next(_etag_counter):X}"


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration (`PT1H30M`, `P1DT2H`), the format of Batch constraints."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or text.strip() in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def is_unbounded(duration: timedelta) -> bool:
    return duration >= timedelta(days=10675199)

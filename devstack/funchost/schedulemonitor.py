"""Timer schedule status, stored like the real host's StorageScheduleMonitor.

One blob per timer, ``azure-webjobs-hosts/timers/{hostId}/{timerName}/status``, holding
``{"Last": ..., "Next": ..., "LastUpdated": ...}`` (ISO 8601, UTC here). ``Next`` is the
occurrence the host is waiting for; if a restarted host finds it in the past, an
occurrence was missed and the timer runs once at start-up with ``past_due``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass

from azure.core.exceptions import AzureError, ResourceNotFoundError

from devstack.funchost.schedule import Schedule
from devstack.funchost.storage import HOSTS_CONTAINER, StorageAccount

log = logging.getLogger(__name__)

# .NET's DateTime.MinValue, which the real host writes for "never".
_NEVER = "0001-01-01T00:00:00"
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


@dataclass(frozen=True)
class ScheduleStatus:
    """The last occurrence run, the next one awaited, and when ``Next`` was computed."""

    last: dt.datetime | None
    next: dt.datetime
    last_updated: dt.datetime | None

    def to_document(self) -> dict[str, str]:
        return {
            "Last": _format(self.last),
            "Next": _format(self.next),
            "LastUpdated": _format(self.last_updated),
        }

    @classmethod
    def from_document(cls, document: object) -> ScheduleStatus:
        if not isinstance(document, dict) or "Next" not in document:
            raise ValueError("a schedule status needs at least 'Next'")
        next_time = _parse(document["Next"])
        if next_time is None:
            raise ValueError("a schedule status 'Next' must be a time")
        return cls(_parse(document.get("Last")), next_time, _parse(document.get("LastUpdated")))


def _format(moment: dt.datetime | None) -> str:
    return _NEVER if moment is None else moment.astimezone(dt.UTC).isoformat()


def _parse(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


class ScheduleMonitor:
    """Reads and writes status blobs and decides whether a timer is past due."""

    def __init__(self, account: StorageAccount, host_id: str) -> None:
        self._container = account.container(HOSTS_CONTAINER)
        self._host_id = host_id

    def blob_name(self, timer_name: str) -> str:
        return f"timers/{self._host_id}/{timer_name}/status"

    def get(self, timer_name: str) -> ScheduleStatus | None:
        blob = self._container.get_blob_client(self.blob_name(timer_name))
        try:
            text = blob.download_blob().readall().decode("utf-8-sig")
        except ResourceNotFoundError:
            return None
        try:
            return ScheduleStatus.from_document(json.loads(text))
        except ValueError as e:
            log.warning("schedule status of %s is unreadable (%s); starting afresh", timer_name, e)
            return None

    def update(self, timer_name: str, status: ScheduleStatus) -> None:
        blob = self._container.get_blob_client(self.blob_name(timer_name))
        try:
            blob.upload_blob(json.dumps(status.to_document()), overwrite=True)
        except AzureError as e:
            # Best effort, as in the real host: a lost update only risks one extra run.
            log.error("could not update the schedule status of %s: %s", timer_name, e)

    def check_past_due(
        self, timer_name: str, now: dt.datetime, schedule: Schedule, status: ScheduleStatus | None
    ) -> tuple[ScheduleStatus, bool]:
        """Bring the stored status up to date with ``schedule``; say if it is past due.

        A new timer gets a status recorded at once, so an occurrence missed before its
        first run is still caught. If the schedule changed since ``Next`` was computed,
        ``Next`` is recomputed (from now, when the recomputed time already passed) rather
        than reported as past due.
        """
        if status is None:
            status = ScheduleStatus(None, _next(schedule, now), now)
            self.update(timer_name, status)
            return status, False
        base = status.last or status.last_updated or now
        expected = _next(schedule, base)
        if expected != status.next:
            last_updated = base
            if now > expected:
                expected, last_updated = _next(schedule, now), now
            status = ScheduleStatus(None, expected, last_updated)
            self.update(timer_name, status)
        return status, now > status.next


def _next(schedule: Schedule, after: dt.datetime) -> dt.datetime:
    following = schedule.next_after(after)
    # A schedule with no future occurrence waits "forever" (the real host does the same).
    return following if following is not None else dt.datetime.max.replace(tzinfo=dt.UTC)

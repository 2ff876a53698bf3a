"""The schedule monitor decides past-due the way the real host's ScheduleMonitor does."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from devstack.funchost.schedule import parse_schedule
from devstack.funchost.schedulemonitor import ScheduleMonitor, ScheduleStatus
from devstack.funchost.storage import StorageAccount
from tests.devstack.funchost.conftest import Azurite

pytestmark = pytest.mark.stack

EVERY_5_MINUTES = parse_schedule("0 */5 * * * *")
NOW = dt.datetime(2026, 3, 1, 12, 7, 30, tzinfo=dt.UTC)


@pytest.fixture
def monitor(azurite: Azurite) -> ScheduleMonitor:
    account = StorageAccount(azurite.connection_string)
    account.ensure_container("azure-webjobs-hosts")
    return ScheduleMonitor(account, f"monitor-{uuid.uuid4().hex[:8]}")


def test_a_new_timer_records_its_next_occurrence_and_is_not_past_due(
    monitor: ScheduleMonitor,
) -> None:
    status, past_due = monitor.check_past_due("Host.Functions.t", NOW, EVERY_5_MINUTES, None)

    assert past_due is False
    assert status.next == dt.datetime(2026, 3, 1, 12, 10, tzinfo=dt.UTC)
    assert monitor.get("Host.Functions.t") == status


def test_a_timer_whose_awaited_occurrence_passed_is_past_due(monitor: ScheduleMonitor) -> None:
    last = dt.datetime(2026, 3, 1, 11, 50, tzinfo=dt.UTC)
    stored = ScheduleStatus(last, last + dt.timedelta(minutes=5), last)
    monitor.update("Host.Functions.t", stored)

    status, past_due = monitor.check_past_due(
        "Host.Functions.t", NOW, EVERY_5_MINUTES, monitor.get("Host.Functions.t")
    )

    assert past_due is True
    assert status == stored


def test_a_changed_schedule_is_not_mistaken_for_a_missed_occurrence(
    monitor: ScheduleMonitor,
) -> None:
    # Given a status written under an hourly schedule, awaiting 12:00 (now passed)
    last = dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.UTC)
    monitor.update("Host.Functions.t", ScheduleStatus(last, last + dt.timedelta(hours=1), last))

    # When the host starts with a five-minute schedule
    status, past_due = monitor.check_past_due(
        "Host.Functions.t", NOW, EVERY_5_MINUTES, monitor.get("Host.Functions.t")
    )

    # Then Next is recomputed from now rather than reported past due
    assert past_due is False
    assert status.next == dt.datetime(2026, 3, 1, 12, 10, tzinfo=dt.UTC)
    assert monitor.get("Host.Functions.t") == status


def test_the_status_blob_holds_the_real_hosts_three_fields(
    monitor: ScheduleMonitor, azurite: Azurite
) -> None:
    monitor.update("Host.Functions.t", ScheduleStatus(None, NOW, NOW))

    blob = StorageAccount(azurite.connection_string).container("azure-webjobs-hosts")
    document = json.loads(blob.download_blob(monitor.blob_name("Host.Functions.t")).readall())

    assert document == {
        "Last": "0001-01-01T00:00:00",
        "Next": "2026-03-01T12:07:30+00:00",
        "LastUpdated": "2026-03-01T12:07:30+00:00",
    }

"""Timer triggers run on their NCRONTAB schedule in UTC, never overlap, and catch up once."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from tests.devstack.funchost.conftest import AppFactory, Azurite, FunctionApp, HostProcess

pytestmark = pytest.mark.stack

APP = """
import datetime as dt
import itertools
import json
import os
import pathlib
import time

import azure.functions as func

app = func.FunctionApp()
RECORD = pathlib.Path(os.environ["FUNCHOST_TEST_RECORD"])


def record(**fields):
    with RECORD.open("a") as f:
        f.write(json.dumps(fields) + "\\n")


def now():
    return dt.datetime.now(dt.timezone.utc).isoformat()


@app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%", use_monitor=True)
def tick(timer: func.TimerRequest) -> None:
    record(function="tick", at=now(), past_due=timer.past_due,
           is_timer_request=isinstance(timer, func.TimerRequest))


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def on_start(timer: func.TimerRequest) -> None:
    record(function="on_start", at=now(), past_due=timer.past_due)


@app.function_name("slow")
@app.timer_trigger(arg_name="timer", schedule="* * * * * *")
def slow_timer(timer: func.TimerRequest) -> None:
    record(function="slow", event="start", at=now())
    time.sleep(1.5)
    record(function="slow", event="end", at=now())
"""


def _timer_app(apps: AppFactory, azurite: Azurite) -> FunctionApp:
    return apps.write(
        APP, {"AzureWebJobsStorage": azurite.connection_string, "TICK_SCHEDULE": "*/2 * * * * *"}
    )


def _runs(host: HostProcess, function: str) -> list[dict[str, Any]]:
    return host.events("invocation", function=function)


def _status(azurite: Azurite, app: FunctionApp, function: str) -> dict[str, str]:
    blob = BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
        "azure-webjobs-hosts", f"timers/{app.host_id}/Host.Functions.{function}/status"
    )
    document: dict[str, str] = json.loads(blob.download_blob().readall())
    return document


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_a_timer_runs_on_its_schedule_read_from_a_setting(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = _timer_app(apps, azurite)
    host = apps.start(app)
    assert host.ready_line()["functions"] == ["tick", "on_start", "slow"]

    host.wait_until(lambda: len(_runs(host, "tick")) >= 3, "three ticks")

    ticks = _runs(host, "tick")[:3]
    assert all(t["outcome"] == "succeeded" and t["past_due"] is False for t in ticks)
    due = [_time(t["scheduled_for"]) for t in ticks]
    assert all(d.second % 2 == 0 and d.microsecond == 0 for d in due)
    assert due == sorted(set(due))
    records = [r for r in app.records() if r["function"] == "tick"]
    assert records[0]["is_timer_request"] is True
    assert host.stop() == 0


def test_run_on_startup_invokes_the_timer_once_at_start(apps: AppFactory, azurite: Azurite) -> None:
    app = _timer_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()

    host.wait_until(lambda: len(_runs(host, "tick")) >= 2, "two ticks")

    (startup,) = _runs(host, "on_start")
    assert startup["run_on_startup"] is True
    assert startup["past_due"] is False
    assert host.stop() == 0


def test_a_run_that_outlasts_its_next_occurrence_is_never_overlapped(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = _timer_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()

    host.wait_until(lambda: len(_runs(host, "slow")) >= 3, "three slow runs")
    assert host.stop() == 0

    events = [r for r in app.records() if r["function"] == "slow"]
    # Runs are strictly sequential: start, end, start, end...
    assert [e["event"] for e in events][: 2 * 3] == ["start", "end"] * 3
    spans = [
        (_time(s["at"]), _time(e["at"])) for s, e in zip(events[::2], events[1::2], strict=False)
    ]
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))
    assert host.events("timer_skipped", function="slow")


def test_the_schedule_status_is_kept_where_the_real_host_keeps_it(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = _timer_app(apps, azurite)
    host = apps.start(app)
    host.ready_line()
    host.wait_until(lambda: len(_runs(host, "tick")) >= 2, "two ticks")
    assert host.stop() == 0

    status = _status(azurite, app, "tick")

    assert set(status) == {"Last", "Next", "LastUpdated"}
    last, following = _time(status["Last"]), _time(status["Next"])
    assert dt.timedelta(0) < following - last <= dt.timedelta(seconds=2)
    assert following.second % 2 == 0
    assert last.utcoffset() == dt.timedelta(0)


def test_after_a_gap_a_missed_occurrence_runs_once_past_due(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = _timer_app(apps, azurite)
    first = apps.start(app)
    first.ready_line()
    first.wait_until(lambda: len(_runs(first, "tick")) >= 1, "a tick")
    assert first.stop() == 0
    ticks_before = len([r for r in app.records() if r["function"] == "tick"])

    # Given the host stayed down past the occurrence it was waiting for
    awaited = _time(_status(azurite, app, "tick")["Next"])
    while dt.datetime.now(dt.UTC) <= awaited + dt.timedelta(seconds=1):
        time.sleep(0.2)

    # When it starts again
    second = apps.start(app)
    second.ready_line()
    second.wait_until(lambda: len(_runs(second, "tick")) >= 3, "three ticks after restart")

    # Then the first run is past due, and only that one
    flags = [t["past_due"] for t in _runs(second, "tick")]
    assert flags[0] is True
    assert flags[1:] == [False] * (len(flags) - 1)
    after_restart = [r for r in app.records() if r["function"] == "tick"][ticks_before:]
    assert after_restart[0]["past_due"] is True
    assert second.stop() == 0


ONE_TIMER = """
import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(arg_name="timer", schedule="* * * * * *")
def every_second(timer: func.TimerRequest) -> None:
    pass
"""


def test_hosts_sharing_a_host_id_run_a_timer_on_one_host_at_a_time(
    apps: AppFactory, azurite: Azurite
) -> None:
    app = apps.write(ONE_TIMER, {"AzureWebJobsStorage": azurite.connection_string})
    first = apps.start(app)
    first.ready_line()
    first.wait_until(lambda: len(_runs(first, "every_second")) >= 1, "a run on the first host")

    # Given a second host with the same host id
    second = apps.start(app)
    second.ready_line()
    second.wait_for_events("timer_lock_waiting", function="every_second")
    runs_before = len(_runs(first, "every_second"))
    first.wait_until(
        lambda: len(_runs(first, "every_second")) >= runs_before + 3,
        "three more runs on the first host",
    )
    # Then only the lock holder runs the timer
    assert _runs(second, "every_second") == []

    # When the first host stops, the second takes over
    assert first.stop() == 0
    second.wait_until(lambda: len(_runs(second, "every_second")) >= 1, "the second host's run")
    assert second.stop() == 0

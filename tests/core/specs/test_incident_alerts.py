"""Every incident is announced once: a rejected file (the person who dropped it hears why and
where the rejects are), a webhook that keeps refusing, and — when asked for — a daily digest.
Rejections can be kept quiet by a setting; the run says rejected either way."""

from __future__ import annotations

import datetime as dt

from batch_core import intake
from batch_core.intake import NO_ROUTE
from batch_core.states import RunState
from batch_core.testing import FakeClock, memory_pipeline
from tests.core.specs.steps import pipeline, received, stored, task_ends, tick


def test_a_rejected_file_raises_one_warning_with_the_reason_and_where_the_rejects_are() -> None:
    # Given a CSV whose worker rejects it (exit 3)
    p = pipeline()
    run = received(p, "bad.csv")
    task_ends(p, run, exit_code=3, stderr=b"bad.csv row 2: no state_abbrv\n")

    # When the reconciler sees it, and ticks again
    first = tick(p, seconds=5)
    tick(p, minutes=1)

    # Then one rejected alert, naming where to look, and the run is marked
    done = stored(p, run)
    assert done.state is RunState.REJECTED and done.alerted and not done.alert_due
    assert first.alerts == 1 and p.alerts.kinds(run.key) == ["rejected"]
    alert = next(iter(p.alerts.docs.values()))
    assert alert["severity"] == "warning"
    assert f"results/bad.csv/{run.key}/" in alert["message"]


def test_a_file_no_route_takes_is_announced_too() -> None:
    p = pipeline()
    blob = p.blobs.upload(p.settings.container_incoming, "notes.txt", b"x")
    run = intake.receive(p, blob, p.clock.now())
    assert run is not None and run.route == NO_ROUTE and run.state is RunState.REJECTED

    assert tick(p, seconds=5).alerts == 1
    assert p.alerts.kinds(run.key) == ["rejected"]


def test_rejections_raise_no_alert_when_the_setting_says_so() -> None:
    p = pipeline(DROPBATCH_ALERT_ON_REJECTED="false")
    run = received(p, "bad.csv")
    task_ends(p, run, exit_code=3)

    assert tick(p, seconds=5).alerts == 0
    assert stored(p, run).state is RunState.REJECTED and stored(p, run).alerted
    assert p.alerts.kinds() == []


def test_a_webhook_that_keeps_refusing_is_itself_announced_once_a_day() -> None:
    # Given a webhook that is down and a failed file
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="1", DROPBATCH_ALERT_WEBHOOK_URL="https://hooks.invalid/x")
    p.alerts.webhook_down = True
    run = received(p)
    task_ends(p, run, exit_code=1)
    tick(p, seconds=5)

    # When it keeps refusing for more than ten minutes, over many ticks
    for _ in range(5):
        tick(p, minutes=5)

    # Then one webhook alert (recorded, not posted), besides the failure waiting to go out
    assert p.alerts.kinds().count("webhook") == 1
    assert p.alerts.deliveries == []


def test_the_daily_digest_counts_the_day_once_at_its_hour() -> None:
    # Given a digest at 06:00 UTC and a day with one success and one rejection
    p = memory_pipeline(
        {"DROPBATCH_DIGEST_HOUR": "6"},
        clock=FakeClock(dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC)),
    )
    good, bad = received(p, "good.csv"), received(p, "bad.csv")
    task_ends(p, good, exit_code=0)
    task_ends(p, bad, exit_code=3, stderr=b"bad.csv: empty\n")
    tick(p, seconds=5)
    assert "digest" not in p.alerts.kinds()

    # When the clock passes 06:00 and ticks repeat within that hour
    tick(p, minutes=60)
    tick(p, minutes=10)

    # Then one digest with the day's counts
    digests = [d for d in p.alerts.docs.values() if d["kind"] == "digest"]
    assert len(digests) == 1
    assert "1 rejected" in digests[0]["message"] and "1 succeeded" in digests[0]["message"]

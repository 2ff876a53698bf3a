"""An operator hears of a failure once: the run's state is stored first, the alert after, so
an alert that could not be raised is raised by a later tick, and never twice."""

from __future__ import annotations

from batch_core.errors import TransientError
from batch_core.states import RunState
from tests.core.specs.steps import pipeline, received, stored, task_ends, tick


def test_a_failure_whose_alert_could_not_be_raised_is_alerted_on_a_later_tick_once() -> None:
    # Given a run with one attempt whose task fails, while alerts cannot be recorded
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="1")
    run = received(p)
    task_ends(p, run, exit_code=1)
    p.alerts.fail("record", TransientError("record alert: Cosmos DB answered HTTP 503"), times=None)

    # When the reconciler sees the task end
    report = tick(p, seconds=5)

    # Then the run's end is stored though nobody could be told (tried twice in the tick: on
    # the run's end, then among the failures nobody was told of)
    failed = stored(p, run)
    assert failed.state is RunState.FAILED and not failed.alerted
    assert p.alerts.kinds() == [] and len(report.errors) == 2

    # When alerts can be recorded again, the next tick raises it and marks the run
    p.alerts.heal()
    assert tick(p, minutes=1).alerts == 1
    assert stored(p, run).alerted

    # Then later ticks raise it no more
    assert tick(p, minutes=1).alerts == 0
    assert p.alerts.kinds(run.key) == ["failed"]


def test_an_alert_raised_but_not_marked_on_its_run_is_not_raised_twice() -> None:
    # Given a run with one attempt whose task fails, a webhook, and a ledger that refuses the
    # first update of the run once it is failed (its mark as alerted)
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="1", DROPBATCH_ALERT_WEBHOOK_URL="https://hooks.invalid/x")
    run = received(p)
    task_ends(p, run, exit_code=1)
    p.ledger.fail(
        "save",
        TransientError("update run: Cosmos DB answered HTTP 503"),
        when=lambda key: p.ledger.docs[key]["state"] == RunState.FAILED,
    )

    # When the reconciler ticks twice
    report = tick(p, seconds=5)
    tick(p, minutes=1)

    # Then the run is marked in the end, and the webhook heard of it once
    assert len(report.errors) == 1
    assert stored(p, run).alerted
    assert len(p.alerts.deliveries) == 1 and p.alerts.kinds(run.key) == ["failed"]

"""A run that does not move for too long is put in front of an operator, once."""

from __future__ import annotations

from batch_core.states import RunState
from tests.core.specs.steps import pipeline, received, stored, tick


def test_a_run_that_does_not_move_raises_one_stuck_alert_and_not_again_next_tick() -> None:
    # Given a stuck limit of 10 minutes and a task that started and keeps running
    p = pipeline(DROPBATCH_STUCK_AFTER_SECONDS="600")
    run = received(p)
    p.batch.start(run.job_id or "", run.task_id or "")
    tick(p, seconds=5)
    assert stored(p, run).state is RunState.RUNNING

    # When the limit has not passed, nobody is told
    assert tick(p, minutes=9).alerts == 0

    # When it has passed, one stuck alert is raised
    assert tick(p, minutes=2).alerts == 1
    [alert] = p.alerts.recent()
    assert alert["kind"] == "stuck" and alert["severity"] == "warning"
    assert run.key in alert["message"]

    # Then the next ticks raise no other
    assert tick(p, minutes=1).alerts == 0
    assert tick(p, hours=1).alerts == 0
    assert p.alerts.kinds(run.key) == ["stuck"]

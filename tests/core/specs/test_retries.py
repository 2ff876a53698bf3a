"""What a task's end means for its run: another attempt after a growing backoff, or an end
that is final, with the file quarantined and an operator told once."""

from __future__ import annotations

import datetime as dt

import pytest

from batch_core.states import RunState
from batch_core.taskwatch import BULK_THRESHOLD
from tests.core.specs.steps import pipeline, received, stored, task_ends, tick
from worker.contract import output_prefix


def test_a_transient_failure_plans_the_next_attempt_after_a_backoff_that_doubles() -> None:
    # Given three attempts with a 30 s backoff, and attempt 1 ends with a transient exit
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="3", DROPBATCH_RETRY_BACKOFF_SECONDS="30")
    run = received(p)
    task_ends(p, run, exit_code=75)

    # When the reconciler sees it end
    tick(p, seconds=5)
    failed_at = p.clock.now()

    # Then attempt 2 is planned, not before the backoff, and not created yet
    second = stored(p, run)
    assert (second.state, second.attempt) == (RunState.SUBMITTED, 2)
    assert second.next_attempt_at == failed_at + dt.timedelta(seconds=30)
    assert second.task_id and second.task_id.endswith("-a2")
    assert p.batch.requests["CreateTask"] == 1

    # When the backoff has not passed yet, nothing is created; once it has, attempt 2 is
    tick(p, seconds=29)
    assert p.batch.requests["CreateTask"] == 1
    tick(p, seconds=1)
    assert p.batch.requests["CreateTask"] == 2
    assert p.batch.task(second.job_id or "", second.task_id).state == "active"

    # When attempt 2 fails the same way, attempt 3 waits twice as long
    task_ends(p, run, exit_code=75)
    tick(p, seconds=5)
    third = stored(p, run)
    assert third.attempt == 3
    assert third.next_attempt_at == p.clock.now() + dt.timedelta(seconds=60)


def test_a_run_whose_attempts_are_spent_fails_quarantined_and_alerted_once() -> None:
    # Given two attempts without backoff, the first already failed
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="2", DROPBATCH_RETRY_BACKOFF_SECONDS="0")
    run = received(p)
    task_ends(p, run, exit_code=1)
    tick(p, seconds=5)
    tick(p, seconds=5)  # attempt 2 created
    p.records.add({"id": "r1", "pk": "CT", "file_key": run.key})  # attempt 2 wrote a little

    # When attempt 2 fails too, saying why
    task_ends(p, run, exit_code=1, stderr=b"reading rows\nValueError: bad header\n")
    report = tick(p, seconds=5)

    # Then the run fails for good, its file is in quarantine, its documents are gone...
    done = stored(p, run)
    assert done.state is RunState.FAILED and done.alerted
    assert "ValueError: bad header" in done.reason and "after 2 attempts" in done.reason
    prefix = output_prefix(run.name, run.key)
    assert p.blobs.data(p.settings.container_failed, f"{prefix}/a.csv") is not None
    assert p.blobs.names(p.settings.container_logs) == (
        f"{prefix}/attempt-2/stderr.txt",
    )  # attempt 1 wrote no stderr
    assert p.records.of(run.key) == []
    # ...and one alert says so, which later ticks do not repeat
    assert report.alerts == 1
    tick(p, minutes=5)
    tick(p, minutes=5)
    assert p.alerts.kinds(run.key) == ["failed"]


@pytest.mark.parametrize(
    ("exit_code", "failure", "ends_as", "tried_again"),
    [
        (0, None, RunState.SUCCEEDED, False),
        (3, None, RunState.REJECTED, False),
        (4, None, RunState.VANISHED, False),
        (2, None, RunState.FAILED, False),  # configuration: another try would fail the same
        (None, "TaskTimedOut: MaxWallClockTimeExceeded", RunState.FAILED, False),
        (75, None, None, True),
        (76, None, None, True),
        (143, None, None, True),
        (137, None, None, True),
        (1, None, None, True),  # a crash
        (None, "TaskEnded: the task never ran", None, True),
    ],
)
def test_exit_codes_decide_between_another_attempt_and_an_end(
    exit_code: int | None, failure: str | None, ends_as: RunState | None, tried_again: bool
) -> None:
    # Given a run with attempts left, whose task ends so
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="3")
    run = received(p)
    task_ends(p, run, exit_code=exit_code, failure=failure)

    # When the reconciler sees it
    report = tick(p, seconds=5)

    # Then it is tried again, or it ends for good
    after = stored(p, run)
    assert report.retried == int(tried_again)
    assert after.attempt == (2 if tried_again else 1)
    assert after.state is (ends_as or RunState.SUBMITTED)
    incident = {RunState.FAILED: ["failed"], RunState.REJECTED: ["rejected"]}
    assert p.alerts.kinds(run.key) == incident.get(ends_as or RunState.SUBMITTED, [])


def test_a_next_attempt_is_created_after_its_backoff_when_many_runs_share_the_job() -> None:
    # Given more active runs on one job than the reconciler reads one by one, and a few of
    # them failing transiently (as when Cosmos DB restarts under load)
    p = pipeline(DROPBATCH_MAX_ATTEMPTS="3", DROPBATCH_RETRY_BACKOFF_SECONDS="30")
    runs = [received(p, f"f{i:02d}.csv") for i in range(BULK_THRESHOLD + 5)]
    failing = runs[:3]
    for run in failing:
        task_ends(p, run, exit_code=75)
    tick(p, seconds=5)
    assert all(stored(p, r).attempt == 2 for r in failing)

    # When the backoff has passed
    tick(p, seconds=31)

    # Then each failed run's attempt 2 exists in Batch at once, not after the recheck period
    for run in failing:
        second = stored(p, run)
        assert second.job_id and second.task_id
        assert p.batch.task(second.job_id, second.task_id).state == "active", second.task_id

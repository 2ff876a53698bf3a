"""A tick carries on past an error: one run that cannot be moved does not hold the others."""

from __future__ import annotations

from batch_core.errors import TransientError
from batch_core.states import RunState
from batch_core.testing import MemoryPipeline
from tests.core.specs.steps import received, stored, task_ends, tick


def test_a_tick_that_fails_on_one_run_still_moves_the_others(p: MemoryPipeline) -> None:
    # Given three finished tasks, and Batch failing whenever the second one is read
    runs = [received(p, f"{n}.csv") for n in ("a", "b", "c")]
    for run in runs:
        task_ends(p, run, exit_code=0)
    bad = runs[1].task_id
    p.batch.fail(
        "GetTask",
        TransientError("read task: Batch answered HTTP 503"),
        times=None,
        when=lambda job, task: task == bad,
    )

    # When the reconciler runs
    report = tick(p, seconds=5)

    # Then the others end, and the error is reported, naming the run
    assert [stored(p, r).state for r in runs] == [
        RunState.SUCCEEDED,
        RunState.SUBMITTED,
        RunState.SUCCEEDED,
    ]
    [error] = report.errors
    assert "b.csv" in error and "503" in error

    # When Batch answers again, the held run ends on the next tick
    p.batch.heal()
    assert tick(p, seconds=5).errors == []
    assert stored(p, runs[1]).state is RunState.SUCCEEDED


def test_a_run_whose_update_fails_is_left_for_the_next_tick_and_the_others_end(
    p: MemoryPipeline,
) -> None:
    # Given two finished tasks, and a ledger that breaks on the first one's update
    first, second = received(p, "a.csv"), received(p, "b.csv")
    task_ends(p, first, exit_code=0)
    task_ends(p, second, exit_code=0)
    p.ledger.fail(
        "save",
        TransientError("update run: Cosmos DB unreachable"),
        when=lambda key: key == first.key,
    )

    # When the reconciler runs
    report = tick(p, seconds=5)

    # Then the second ends, and the first is left for the next tick
    assert stored(p, second).state is RunState.SUCCEEDED
    assert stored(p, first).state is RunState.SUBMITTED
    assert len(report.errors) == 1
    assert tick(p, seconds=5).errors == []
    assert stored(p, first).state is RunState.SUCCEEDED

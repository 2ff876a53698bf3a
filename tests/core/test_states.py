import pytest

from batch_core.states import RunState, verdict_for_task
from worker.contract import WorkerExit

S = RunState


@pytest.mark.parametrize(
    ("task_state", "exit_code", "state", "retry"),
    [
        ("active", None, None, False),
        ("preparing", None, None, False),
        ("running", None, S.RUNNING, False),
        ("completed", WorkerExit.OK, S.SUCCEEDED, False),
        ("completed", WorkerExit.REJECTED, S.REJECTED, False),
        ("completed", WorkerExit.VANISHED, S.VANISHED, False),
        ("completed", WorkerExit.CONFIG, S.FAILED, False),
        ("completed", WorkerExit.TRANSIENT, S.FAILED, True),
        ("completed", WorkerExit.THROTTLED, S.FAILED, True),
        ("completed", 137, S.FAILED, True),
        ("completed", WorkerExit.TERMINATED, S.FAILED, True),
        ("completed", 1, S.FAILED, True),
        ("completed", None, S.FAILED, True),
    ],
)
def test_a_task_end_maps_to_one_run_state(
    task_state: str, exit_code: int | None, state: RunState | None, retry: bool
) -> None:
    verdict = verdict_for_task(task_state, exit_code, None)
    assert (verdict.state, verdict.retry) == (state, retry)
    assert verdict.reason


def test_a_task_that_could_not_start_says_why() -> None:
    verdict = verdict_for_task("completed", None, "CommandProgramNotFound: no such file")
    assert "CommandProgramNotFound" in verdict.reason


def test_runs_only_move_forward() -> None:
    assert S.RECEIVED.can_move_to(S.SUBMITTED)
    assert S.SUBMITTED.can_move_to(S.SUBMITTED)  # a retry plans the next attempt
    assert S.RUNNING.can_move_to(S.SUCCEEDED)
    assert S.RUNNING.can_move_to(S.SUBMITTED)  # and from a running attempt
    assert not S.RUNNING.can_move_to(S.RECEIVED)
    assert not S.SUBMITTED.can_move_to(S.RECEIVED)
    for terminal in (S.SUCCEEDED, S.REJECTED, S.FAILED, S.VANISHED):
        assert terminal.terminal
        assert not any(terminal.can_move_to(other) for other in S)


def test_stopped_and_killed_workers_are_named_as_such() -> None:
    assert "SIGTERM" in verdict_for_task("completed", 143, None).reason
    assert "killed" in verdict_for_task("completed", 137, None).reason
    assert "crashed (exit 1)" in verdict_for_task("completed", 1, None).reason

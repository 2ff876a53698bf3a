"""Run states, and the one function that maps a Batch task's end (its state and the worker's
exit code, see `worker.contract.WorkerExit`) to a run state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from worker.contract import WorkerExit


class RunState(StrEnum):
    """The states of a run, from received to one of the terminal states."""

    RECEIVED = "received"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"
    VANISHED = "vanished"

    @property
    def terminal(self) -> bool:
        """Whether the run has ended (succeeded, rejected, failed or vanished)."""
        return self in TERMINAL

    def can_move_to(self, other: RunState) -> bool:
        """Transitions only move forward; a terminal state is final. A retry goes back to
        `submitted` from `submitted` or `running`, with the next attempt number."""
        if self.terminal:
            return False
        if other is RunState.SUBMITTED and self in (RunState.SUBMITTED, RunState.RUNNING):
            return True
        return _RANK[other] > _RANK[self]


TERMINAL = frozenset({RunState.SUCCEEDED, RunState.REJECTED, RunState.FAILED, RunState.VANISHED})
ACTIVE = (RunState.RECEIVED, RunState.SUBMITTED, RunState.RUNNING)
_RANK = {
    RunState.RECEIVED: 0,
    RunState.SUBMITTED: 1,
    RunState.RUNNING: 2,
    RunState.SUCCEEDED: 3,
    RunState.REJECTED: 3,
    RunState.FAILED: 3,
    RunState.VANISHED: 3,
}


@dataclass(frozen=True)
class TaskVerdict:
    """What a task's state means for its run: a new state (None = unchanged), whether to try
    again (when attempts are left), and a reason for the operator."""

    state: RunState | None
    retry: bool
    reason: str


def verdict_for_task(task_state: str, exit_code: int | None, failure: str | None) -> TaskVerdict:
    """Map a Batch task state (active, preparing, running, completed) and its exit code."""
    if task_state in ("active", "preparing"):
        return TaskVerdict(None, False, "waiting for a node")
    if task_state == "running":
        return TaskVerdict(RunState.RUNNING, False, "running")
    if task_state != "completed":
        return TaskVerdict(None, False, f"unknown task state {task_state!r}")
    if failure and "MaxWallClockTimeExceeded" in failure:
        # Another attempt would hit the same limit.
        return TaskVerdict(
            RunState.FAILED,
            False,
            "the task ran past its time limit; raise DROPBATCH_TASK_MAX_SECONDS or split the file",
        )
    if exit_code is None:
        return TaskVerdict(RunState.FAILED, True, f"task did not run: {failure or 'no exit code'}")
    known = _EXIT_VERDICTS.get(exit_code)
    return known or TaskVerdict(RunState.FAILED, True, f"worker crashed (exit {exit_code})")


# What the worker's exit code means once its task completed.
_EXIT_VERDICTS: dict[int, TaskVerdict] = {
    WorkerExit.OK: TaskVerdict(RunState.SUCCEEDED, False, "processed"),
    WorkerExit.REJECTED: TaskVerdict(RunState.REJECTED, False, "input rejected"),
    WorkerExit.VANISHED: TaskVerdict(
        RunState.VANISHED, False, "the blob was deleted or replaced first"
    ),
    WorkerExit.CONFIG: TaskVerdict(
        RunState.FAILED, False, "worker configuration error (exit 2): fix the settings"
    ),
    WorkerExit.TRANSIENT: TaskVerdict(RunState.FAILED, True, "transient failure (exit 75)"),
    WorkerExit.THROTTLED: TaskVerdict(
        RunState.FAILED, True, "Cosmos DB write budget spent (exit 76)"
    ),
    WorkerExit.TERMINATED: TaskVerdict(
        RunState.FAILED, True, "worker was stopped (SIGTERM, exit 143)"
    ),
    WorkerExit.KILLED: TaskVerdict(
        RunState.FAILED, True, "worker was killed (exit 137: out of memory or time limit)"
    ),
}

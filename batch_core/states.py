"""Run states, and the one function that maps a Batch task's end (its state and the worker's
exit code, see `worker.contract.WorkerExit`) to a run state."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from worker.contract import WorkerExit


class RunState(StrEnum):
    RECEIVED = "received"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"
    FAILED = "failed"
    VANISHED = "vanished"

    @property
    def terminal(self) -> bool:
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
    if exit_code == WorkerExit.OK:
        return TaskVerdict(RunState.SUCCEEDED, False, "processed")
    if exit_code == WorkerExit.REJECTED:
        return TaskVerdict(RunState.REJECTED, False, "input rejected")
    if exit_code == WorkerExit.VANISHED:
        return TaskVerdict(RunState.VANISHED, False, "the blob was deleted or replaced first")
    if exit_code == WorkerExit.CONFIG:
        return TaskVerdict(
            RunState.FAILED, False, "worker configuration error (exit 2): fix the settings"
        )
    if exit_code == WorkerExit.TRANSIENT:
        return TaskVerdict(RunState.FAILED, True, "transient failure (exit 75)")
    if exit_code == WorkerExit.THROTTLED:
        return TaskVerdict(RunState.FAILED, True, "Cosmos DB write budget spent (exit 76)")
    if exit_code == WorkerExit.TERMINATED:
        return TaskVerdict(RunState.FAILED, True, "worker was stopped (SIGTERM, exit 143)")
    if exit_code == WorkerExit.KILLED:
        return TaskVerdict(
            RunState.FAILED, True, "worker was killed (exit 137: out of memory or time limit)"
        )
    return TaskVerdict(RunState.FAILED, True, f"worker crashed (exit {exit_code})")

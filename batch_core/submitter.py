"""Group submission: the tasks that concurrent invocations in one process plan within a short
window go to Batch together, up to 100 per add-task-collection request, instead of one
request each. The first caller of a window waits it out and sends the group; each caller
gets its own task's outcome (TaskExists counts as success). When the whole request fails,
every caller of the group gets that error: its run stays planned and the reconciler creates
the missing task later — a task is never dropped silently. A window of 0 sends at once.

Under a burst the window widens: when at least `BURST_TASKS` tasks came in the last second, a
group may wait up to `BURST_FACTOR` windows (or until it holds 100), so a host that hands over
files a few at a time still fills its requests. It goes out sooner once a whole window passes
with no task joining it: its callers hold the host's threads while they wait, so a group as
big as the host's concurrency gains nothing by waiting longer. A file landing alone waits one
window only. Groups are sent by their first caller, each on its own thread: several are in
flight at once."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from azure.batch import models

from batch_core import phases
from batch_core.batch_service import MAX_TASKS_PER_REQUEST
from batch_core.errors import DropbatchError, TransientError
from batch_core.ports import BatchPort

# How long a caller waits at most for its group's answer beyond the window.
ANSWER_TIMEOUT_SECONDS = 120.0
# This many tasks within the last second make a burst; a burst's groups wait this many windows.
BURST_TASKS = 8
BURST_FACTOR = 10


@dataclass
class _Group:
    job_id: str
    pool_id: str | None
    tasks: list[models.BatchTaskCreateOptions] = field(default_factory=list)
    outcomes: dict[str, bool | DropbatchError] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    full: threading.Event = field(default_factory=threading.Event)  # sealed before its time
    sealed: bool = False
    window: float = 0.0
    sent_at: float = 0.0  # monotonic, when its request went out
    call_seconds: float = 0.0  # how long the request took


class GroupSubmitter:
    """Sends the tasks added within `window_seconds` of each other, per job, together."""

    def __init__(self, batch: BatchPort, window_seconds: float) -> None:
        self._batch = batch
        self._window = window_seconds
        self._lock = threading.Lock()
        self._open: dict[str, _Group] = {}
        self._recent: deque[float] = deque()  # when the tasks of the last second came

    def add(
        self, job_id: str, task: models.BatchTaskCreateOptions, pool_id: str | None = None
    ) -> bool:
        """Add `task` to job `job_id`: True if created, False if it existed; raises the
        DropbatchError of its request (or of the task itself)."""
        if self._window <= 0:
            with phases.timed("batch_call"):
                return self._batch.add_task(job_id, task, pool_id)
        joined = time.monotonic()
        with self._lock:
            window = self._window_now(joined)
            group = self._open.get(job_id)
            leader = group is None
            if group is None:
                group = self._open[job_id] = _Group(job_id, pool_id, window=window)
            group.tasks.append(task)
            if len(group.tasks) >= MAX_TASKS_PER_REQUEST:
                self._seal(group)
        if leader:
            self._lead(group)
        if not group.done.wait(ANSWER_TIMEOUT_SECONDS):
            raise TransientError(f"add task {task.id}: no answer from its group in time")
        phases.note("submit_wait", max(group.sent_at - joined, 0.0))
        phases.note("batch_call", group.call_seconds)
        phases.note("group_count", len(group.tasks))
        outcome = group.outcomes[str(task.id)]
        if isinstance(outcome, DropbatchError):
            raise outcome
        return outcome

    def _window_now(self, now: float) -> float:
        """Count a task coming `now`; the window of a group opening now (lock held): wider
        in a burst."""
        recent = self._recent
        while recent and recent[0] < now - 1.0:
            recent.popleft()
        recent.append(now)
        return self._window * (BURST_FACTOR if len(recent) > BURST_TASKS else 1)

    def _lead(self, group: _Group) -> None:
        deadline = time.monotonic() + group.window
        seen = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or group.full.wait(min(self._window, left)):
                break
            with self._lock:
                if len(group.tasks) == seen:  # a whole window and nobody joined
                    break
                seen = len(group.tasks)
        with self._lock:
            self._seal(group)
        group.sent_at = time.monotonic()
        try:
            group.outcomes = self._batch.add_tasks(group.job_id, group.tasks, group.pool_id)
        except DropbatchError as e:
            group.outcomes = {str(t.id): e for t in group.tasks}
        except Exception as e:  # the callers must hear of it, whatever it was
            error = TransientError(f"add {len(group.tasks)} tasks: {type(e).__name__}: {e}")
            group.outcomes = {str(t.id): error for t in group.tasks}
        finally:
            group.call_seconds = time.monotonic() - group.sent_at
            group.done.set()

    def _seal(self, group: _Group) -> None:
        """No more tasks join `group` (lock held): a new one opens for the job."""
        group.sealed = True
        group.full.set()
        if self._open.get(group.job_id) is group:
            del self._open[group.job_id]

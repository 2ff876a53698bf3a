"""Task dependencies: checking a task's `dependsOn`, and whether it may run yet.

As Batch documents them:

- `taskIds`: every named task must have completed and its exit options must have said
  `dependencyAction: satisfy` (the default for exit code 0; `block` for every other ending).
  A named task that does not exist (yet) keeps the dependant waiting.
- `taskIdRanges` (`start`..`end`, inclusive) select the job's tasks whose ids are integers in
  the range; ids that are not integers are never selected, and tasks that do not exist are
  not waited for. Leading zeros do not count: "4", "04" and "004" are all task 4, and the
  first of them to satisfy satisfies 4.
- The combined length of the `taskIds` may be at most 64,000 characters
  (`TaskDependencyListTooLong`). Batch also refuses too many ranges
  (`TaskDependencyRangesTooLong`) without documenting the number; here the ranges, written as
  `start-end,`, get the same 64,000-character budget.

A task whose dependencies are not met stays `active`: it counts as active in the job's task
counts but not in the autoscale variable `$ActiveTasks` ("ready to execute").
"""

from __future__ import annotations

from typing import Any

from devstack.batchsvc import validation as v
from devstack.batchsvc.errors import BadRequest
from devstack.batchsvc.registry import Job, TaskRecord

MAX_TASK_IDS_CHARS = 64000
MAX_RANGES_CHARS = 64000


def checked(task_id: str, depends_on: Any) -> dict[str, Any]:
    """The `dependsOn` to store, or BadRequest naming what is wrong with it."""
    if not isinstance(depends_on, dict):
        raise v.invalid("dependsOn", depends_on, "The value must be an object.")
    out: dict[str, Any] = {}
    ids = depends_on.get("taskIds")
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise v.invalid("dependsOn.taskIds", ids, "The value must be a list of task ids.")
        if sum(len(i) for i in ids) > MAX_TASK_IDS_CHARS:
            raise BadRequest(
                "A task was specified as depending on other tasks, but the list of dependencies "
                "was too long to be stored. The total stored length is limited to 64000 "
                "characters; consider using task ID range dependencies instead.",
                code="TaskDependencyListTooLong",
                values={"TaskId": task_id},
            )
        out["taskIds"] = list(ids)
    ranges = depends_on.get("taskIdRanges")
    if ranges is not None:
        if not isinstance(ranges, list):
            raise v.invalid("dependsOn.taskIdRanges", ranges, "The value must be a list.")
        spans = [_span(i, span) for i, span in enumerate(ranges)]
        if sum(len(f"{s}-{e},") for s, e in spans) > MAX_RANGES_CHARS:
            raise BadRequest(
                "A task was specified as depending on multiple ranges of task ids, and the list "
                "of ranges was too long to be stored.",
                code="TaskDependencyRangesTooLong",
                values={"TaskId": task_id, "RangeCount": str(len(spans))},
            )
        out["taskIdRanges"] = [{"start": s, "end": e} for s, e in spans]
    return out


def _span(index: int, span: Any) -> tuple[int, int]:
    where = f"dependsOn.taskIdRanges[{index}]"
    if not isinstance(span, dict):
        raise v.invalid(where, span, "Each range must be an object with start and end.")
    for key in ("start", "end"):
        if span.get(key) is None:
            raise v.missing(f"{where}.{key}")
        if isinstance(span[key], bool) or not isinstance(span[key], int):
            raise v.invalid(f"{where}.{key}", span[key], "The value must be an integer.")
    start, end = int(span["start"]), int(span["end"])
    if start > end:
        raise v.invalid(f"{where}.end", end, f"The end must not be less than the start ({start}).")
    return start, end


def _satisfies(task: TaskRecord) -> bool:
    return task.state == "completed" and task.doc.get("_dependencyAction", "satisfy") == "satisfy"


def met(job: Job, task: TaskRecord) -> bool:
    """True when every dependency of the task is satisfied (registry lock held)."""
    depends = task.doc.get("dependsOn")
    if not depends:
        return True
    for dep_id in depends.get("taskIds") or []:
        dep = job.tasks.get(dep_id)
        if dep is None or not _satisfies(dep):
            return False
    for span in depends.get("taskIdRanges") or []:
        start, end = int(span["start"]), int(span["end"])
        if end - start < len(job.numbered):
            values: Any = (n for n in range(start, end + 1) if n in job.numbered)
        else:
            values = (n for n in job.numbered if start <= n <= end)
        for number in values:
            if not any(_satisfies(job.tasks[i]) for i in job.numbered[number] if i in job.tasks):
                return False
    return True


def ready(job: Job, task: TaskRecord) -> bool:
    """Active with its dependencies met: what `$ActiveTasks` counts."""
    return task.state == "active" and met(job, task)

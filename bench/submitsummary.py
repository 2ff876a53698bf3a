"""What `bench.submit` reports from what it saw: the seconds until every task existed and
every run ended, trigger latency per file, and Batch requests per file (all of them, and the
ones that add tasks)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from batch_core.states import TERMINAL
from bench.batchwatch import TaskView
from bench.harness import percentile, rounded

# The Batch operations that add tasks: one task, or a collection of up to 100.
ADD_TASK = ("Tasks_CreateTask", "Tasks_CreateTaskCollection")


@dataclass(frozen=True)
class Dropped:
    name: str
    etag: str
    uploaded_at: float  # epoch seconds, when the upload call returned


def summarize(
    *,
    t0: float,
    dropped: dict[str, Dropped],
    tasks: dict[str, TaskView],
    docs: list[dict[str, Any]],
    upload_seconds: float,
    seen_submitted: float,
    seen_terminal: float,
    created: int,
    requests_at_submitted: dict[str, int],
    requests_at_end: dict[str, int],
    statuses: dict[str, int],
) -> dict[str, Any]:
    n = len(dropped)
    latencies = [
        made.timestamp() - d.uploaded_at
        for tid, d in dropped.items()
        if tid in tasks and (made := tasks[tid].created) is not None
    ]
    created_at = [v.created.timestamp() for v in tasks.values() if v.created is not None]
    ended_at = [v.ended.timestamp() for v in tasks.values() if v.ended is not None]
    all_terminal = len(docs) == n and all(d["state"] in TERMINAL for d in docs)
    last_upload = max((d.uploaded_at for d in dropped.values()), default=t0)
    total_at_submitted = sum(requests_at_submitted.values())
    adds_at_submitted = sum(requests_at_submitted.get(op, 0) for op in ADD_TASK)
    total = sum(requests_at_end.values())
    return {
        "complete": created == n and (all_terminal or not docs),
        "upload_seconds": round(upload_seconds, 2),
        "seconds_until_all_submitted": rounded(max(created_at) - t0 if created_at else None, 2),
        "seconds_after_last_upload_until_all_submitted": rounded(
            max(created_at) - last_upload if created_at else None, 2
        ),
        "seconds_until_all_tasks_completed": rounded(
            max(ended_at) - t0 if len(ended_at) == n else None, 2
        ),
        # A run's updated_at is the start of the tick that moved it, not when it moved, so
        # the ledger is watched instead (resolution: the poll interval).
        "seconds_until_all_terminal": round(seen_terminal, 2) if all_terminal else None,
        "observed_by_polling": {
            "all_submitted_seconds": round(seen_submitted, 2),
        },
        "tasks_created": len(created_at),
        "run_states": dict(Counter(str(d["state"]) for d in docs)),
        "task_exit_codes": dict(Counter(str(v.exit_code) for v in tasks.values())),
        "trigger_latency_seconds": {
            "p50": rounded(percentile(latencies, 50)),
            "p95": rounded(percentile(latencies, 95)),
            "max": rounded(max(latencies) if latencies else None),
            "min": rounded(min(latencies) if latencies else None),
        },
        "batch_requests": {
            "per_file": rounded(total / n if n else None, 2),
            "total": total,
            "per_file_until_all_submitted": rounded(total_at_submitted / n if n else None, 2),
            # Requests that add tasks (CreateTask, CreateTaskCollection) per file, until every
            # task existed: the submitter's own cost, without the ticks' shared look-ups.
            "add_task_per_file_until_all_submitted": rounded(
                adds_at_submitted / n if n else None, 3
            ),
            "get_task_file": requests_at_end.get("Tasks_GetTaskFile", 0),
            "until_all_submitted": requests_at_submitted,
            "by_operation": requests_at_end,
            "per_file_by_operation": {op: round(c / n, 2) for op, c in requests_at_end.items()},
            "http_statuses": statuses,
        },
    }

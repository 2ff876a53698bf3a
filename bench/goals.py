"""The performance goals the suite checks its figures against, and whether each was met.

Every goal names the benchmark run it reads (by its parameters), the figure, the target and
how they compare; a run the suite did not make leaves its goals unanswered (`met` None).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# worker_startup's CPU seconds (median) before its start-up was trimmed: bench/README.md's
# figures of 2026-11-22, `python -m worker` on a 20-row file.
ORIGINAL_STARTUP_CPU_SECONDS = {"csv": 0.25, "zip": 0.18}
MB = 1_000_000
MiB = 1024 * 1024

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}
# The submitter alone: a pool held at zero nodes, so no task runs and nothing else competes.
_ALONE = (("pool_nodes", 0), ("one_at_a_time", None))
_ONE_BY_ONE = (("pool_nodes", 0), ("one_at_a_time", True))


@dataclass(frozen=True)
class Goal:
    """One figure of one benchmark run, and the bound it should keep."""

    name: str
    benchmark: str
    figure: str
    compare: str
    target: float
    # Which runs of the benchmark it reads: all whose parameters hold these values.
    where: tuple[tuple[str, Any], ...] = ()
    # ... and none of these.
    unless: tuple[tuple[str, Any], ...] = ()
    # Another figure of the same run, reported beside the value (not compared).
    beside: str = ""
    scale: float = 1.0  # the figure times this is compared (MiB to MB and the like)

    def read(self, result: dict[str, Any], figure: str = "") -> float | None:
        """The figure (or another: a dotted path into its measurements) in one result,
        scaled."""
        node: Any = result.get("measurements", {})
        for part in (figure or self.figure).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return None if node is None else round(float(node) * self.scale, 3)

    def applies(self, result: dict[str, Any]) -> bool:
        """Whether `result` is a run this goal reads."""
        if result.get("benchmark") != self.benchmark:
            return False
        params = result.get("parameters", {})
        return all(params.get(key) == value for key, value in self.where) and not any(
            params.get(key) == value for key, value in self.unless
        )


GOALS = (
    Goal(
        "worker_csv vs the sequential loop, no added latency",
        "worker_csv", "worker_vs_baseline", ">=", 3.0, (("cosmos_latency_ms", 0),),
    ),
    Goal(
        "worker_csv vs the sequential loop, --latency-ms 5",
        "worker_csv", "worker_vs_baseline", ">=", 15.0, (("cosmos_latency_ms", 5),),
    ),
    Goal("worker_csv never slower than the sequential loop", "worker_csv",
         "worker_vs_baseline", ">=", 1.0),
    Goal("worker_csv vs the ceiling (transactional batches, same concurrency)", "worker_csv",
         "worker_vs_ceiling", ">=", 0.9),
    Goal(
        "worker start-up CPU, 20-row CSV task: half the original",
        "worker_startup", "csv.cpu_seconds_median", "<=",
        ORIGINAL_STARTUP_CPU_SECONDS["csv"] / 2,
    ),
    Goal(
        "worker start-up CPU, zip of that CSV: half the original",
        "worker_startup", "zip.cpu_seconds_median", "<=",
        ORIGINAL_STARTUP_CPU_SECONDS["zip"] / 2,
    ),
    Goal("unzip vs extractall, speed", "unzip", "worker_vs_extractall_speed", ">=", 1.0),
    Goal("unzip peak RSS (MB)", "unzip", "worker.peak_rss_mib", "<=", 150.0, scale=MiB / MB),
    Goal("submitter alone, 1,000 files at once: every task <= 10 s after the last upload",
         "submit", "seconds_after_last_upload_until_all_submitted", "<=", 10.0,
         (*_ALONE, ("files", 1000))),
    Goal("submitter alone, 200 files at once: trigger latency p95 <= 2 s", "submit",
         "trigger_latency_seconds.p95", "<=", 2.0, (*_ALONE, ("files", 200))),
    Goal(
        "Batch requests per file, files one at a time: add-task requests "
        "(all-in requests per file beside it)",
        "submit", "batch_requests.add_task_per_file_until_all_submitted", "<=", 1.05,
        _ONE_BY_ONE, beside="batch_requests.per_file_until_all_submitted",
    ),
    Goal("Batch requests per file, 1,000-file burst: all requests until every task exists",
         "submit", "batch_requests.per_file_until_all_submitted", "<=", 0.15,
         (*_ALONE, ("files", 1000))),
    Goal("no GetTaskFile over a whole run (tasks run, reconcile ticks)", "submit",
         "batch_requests.get_task_file", "==", 0, unless=(("pool_nodes", 0),)),
    Goal("Cosmos requests per file at intake: 1 ledger write (the app's, until every task "
         "exists)", "submit", "cosmos_requests.writes_per_file", "<=", 1.0,
         (("pool_nodes", 0),)),
    Goal("reconcile steady tick, history (suite: 10,000 finished files) vs none: <= 2x "
         "seconds", "reconcile", "steady_seconds_ratio", "<=", 2.0),
    Goal("reconcile steady tick, history vs none: same Batch requests (extra with history)",
         "reconcile", "steady_batch_requests.extra_with_history", "==", 0),
)  # fmt: skip


def evaluate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each goal against every run it applies to; one row per goal and run, or one row with
    `met` None when no run of it was made."""
    rows: list[dict[str, Any]] = []
    for goal in GOALS:
        head = {
            "goal": goal.name,
            "benchmark": goal.benchmark,
            "figure": goal.figure,
            "target": f"{goal.compare} {goal.target:g}",
        }
        runs = [r for r in results if goal.applies(r)]
        if not runs:
            rows.append({**head, "value": None, "met": None, "note": "not run"})
        for run in runs:
            value = goal.read(run)
            met = None if value is None else _COMPARE[goal.compare](value, goal.target)
            row = {**head, "parameters": run.get("parameters"), "value": value, "met": met}
            if goal.beside:
                row["beside"] = {goal.beside: goal.read(run, goal.beside)}
            rows.append(row)
    return rows

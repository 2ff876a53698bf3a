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

_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le}


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
    scale: float = 1.0  # the figure times this is compared (MiB to MB and the like)

    def read(self, result: dict[str, Any]) -> float | None:
        """The figure in one result (a dotted path into its measurements), scaled."""
        node: Any = result.get("measurements", {})
        for part in self.figure.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return None if node is None else round(float(node) * self.scale, 3)

    def applies(self, result: dict[str, Any]) -> bool:
        """Whether `result` is a run this goal reads."""
        if result.get("benchmark") != self.benchmark:
            return False
        params = result.get("parameters", {})
        return all(params.get(key) == value for key, value in self.where)


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
            rows.append({**head, "parameters": run.get("parameters"), "value": value, "met": met})
    return rows

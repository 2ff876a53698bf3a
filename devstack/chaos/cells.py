"""The fault matrix: one cell per hop and fault. A cell's faults are rules on the servers'
HTTP layers (`devstack.faultrules`, scoped to the app's or the worker's User-Agent) or an
action on processes (SIGKILL mid-operation). Nothing of ours is patched.

Hops: `batch` (the Batch API, from the app), `ledger` (Cosmos DB runs, from the app),
`records` (Cosmos DB, from the worker on the node), `storage-app` (blob storage from the
Functions host: trigger, intake, summaries), `storage-worker` (blob storage from the task),
`host` (the Functions host), `task` (a task's process or node), `reconcile` (the timer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.chaos import control
from devstack.stack import APP_CALLER, WORKER_CALLER, Stack

APP = f"*{APP_CALLER}*"
WORKER = f"*{WORKER_CALLER}*"
HOLD_MS = 3000  # a timeout: held this long, then the connection is cut


@dataclass(frozen=True)
class Cell:
    hop: str
    fault: str
    rules: tuple[tuple[str, dict[str, Any]], ...] = ()  # (server, rule) while the fault is on
    action: Callable[[Stack], str] | None = None  # run right after the drop; says what it did
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.hop}:{self.fault}"


def _http_cells(
    hop: str, target: str, caller: str, ops: str, writes: str, exception: dict[str, Any]
) -> list[Cell]:
    """The five HTTP faults of one hop; `writes` the operations whose answer a drop loses."""
    scope = {"caller": caller, "operation": ops}
    return [
        Cell(hop, "exception", ((target, {**scope, **exception}),)),
        Cell(hop, "timeout", ((target, {"kind": "timeout", "latency_ms": HOLD_MS, **scope}),)),
        Cell(
            hop,
            "lost-response",
            ((target, {"kind": "drop", "caller": caller, "operation": writes}),),
        ),
        Cell(hop, "throttle", ((target, {"kind": "throttle", "retry_after": 1, **scope}),)),
        Cell(hop, "5xx", ((target, {"kind": "error", "status": 503, **scope}),)),
    ]


def _after(seconds: float, then: Callable[[Stack], None], what: str) -> Callable[[Stack], str]:
    def act(stack: Stack) -> str:
        time.sleep(seconds)
        then(stack)
        return what

    return act


def _kill_tasks(stack: Stack) -> str:
    return f"killed {control.kill_tasks(stack, 2)} running task(s)"


def _kill_tick(stack: Stack) -> str:
    caught = control.kill_reconciler_mid_tick(stack)
    return "killed the host mid-tick" if caught else "no tick caught running"


def matrix() -> list[Cell]:
    """Every cell, in the order the full matrix runs them."""
    runs, records = "* /dbs/*/colls/runs*", "* /dbs/*/colls/records*"
    cells = [Cell("none", "none", notes="the baseline: no fault")]
    cells += _http_cells("batch", "batch", APP, "*", "Tasks_CreateTask*",
                         {"kind": "garbage"})  # fmt: skip
    cells += [
        Cell("batch", "kill", action=_after(2.0, control.kill_batch, "SIGKILL batch service")),
        Cell("task", "preempt", (("batch", {"kind": "preempt", "count": 3, "after_ms": 300}),)),
        Cell("task", "kill", action=_kill_tasks),
        Cell("host", "kill", action=_after(1.0, control.kill_functions, "SIGKILL host")),
        Cell("reconcile", "kill",
             (("batch", {"kind": "latency", "latency_ms": 300, "caller": APP}),),
             action=_kill_tick),
    ]  # fmt: skip
    conflict = {"kind": "reject", "status": 412, "operation": "PUT /dbs/*/colls/runs/docs/*"}
    cells += _http_cells("ledger", "cosmos", APP, runs, "P* /dbs/*/colls/runs/docs*", conflict)
    cells += _http_cells("records", "cosmos", WORKER, records, "P* /dbs/*/colls/records/docs*",
                         {"kind": "garbage"})  # fmt: skip
    cells += _http_cells("storage-app", "storage", APP, "*", "P*",
                         {"kind": "garbage", "operation": "GET *"})  # fmt: skip
    cells += _http_cells("storage-worker", "storage", WORKER, "*", "P*",
                         {"kind": "garbage", "operation": "GET *"})  # fmt: skip
    return cells


# The CI subset: the cells that tell most in a few minutes.
SMOKE = ("batch:lost-response", "ledger:throttle", "host:kill", "task:preempt")


def select(only: list[str] | None, smoke: bool) -> list[Cell]:
    """The cells asked for (`hop:fault`, `hop:*`), the smoke subset, or all of them."""
    cells = matrix()
    wanted = list(SMOKE) if smoke and not only else only
    if not wanted:
        return cells
    known = {c.name for c in cells}
    chosen = [c for c in cells if any(_matches(w, c) for w in wanted)]
    unknown = [w for w in wanted if not any(_matches(w, c) for c in cells)]
    if unknown:
        raise ValueError(
            f"no such cell: {', '.join(unknown)}; cells are {', '.join(sorted(known))}"
        )
    return chosen


def _matches(pattern: str, cell: Cell) -> bool:
    hop, _, fault = pattern.partition(":")
    return hop == cell.hop and fault in ("*", "", cell.fault)

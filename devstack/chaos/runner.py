"""Running cells on one chaos stack: each cell injects its fault, drops its files while the
fault is on, clears it, waits for every file to end and checks the outcome. Progress goes to
stderr as JSON lines; the report is one JSON object."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_core.pipeline import Pipeline
from batch_core.settings import Settings
from devstack.chaos import workload
from devstack.chaos.cells import Cell
from devstack.chaos.checks import check
from devstack.chaos.control import Faults
from devstack.chaos.observe import cell_runs, observe
from devstack.servers import ROOT
from devstack.stack import Stack

FAULT_SECONDS = 8.0  # how long a fault rule stays on after the files are dropped
RECOVER_SECONDS = 180.0  # at most, after the fault is cleared, until every file has ended
SETTLE_SECONDS = 5.0  # then: a few reconcile ticks (alerts, late duplicates) before checking
OVERRIDES = {
    "DROPBATCH_RECONCILE_SCHEDULE": "*/2 * * * * *",
    "DROPBATCH_SWEEP_SECONDS": "5",
}


def progress(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), file=sys.stderr, flush=True)


@dataclass
class Chaos:
    """A chaos stack, its pipeline (as an operator reads it) and its fault rules."""

    stack: Stack
    p: Pipeline
    faults: Faults
    run_id: str

    @classmethod
    def start(cls, state_dir: Path) -> Chaos:
        """Start the stack with the chaos routes and push the programs they run."""
        routes = workload.write_routes(state_dir)
        overrides = {**OVERRIDES, "DROPBATCH_ROUTES_FILE": str(routes)}
        stack = Stack(state_dir, chaos=True).start(overrides=overrides)
        try:
            p = Pipeline.build(Settings.from_env(stack.values), app_root=ROOT)
            workload.push_programs(p)
            return cls(stack, p, Faults(stack), uuid.uuid4().hex[:6])
        except BaseException:
            stack.stop()
            raise

    def run(self, cell: Cell, csvs: int) -> dict[str, Any]:
        """One cell; its row of the report."""
        prefix = f"chaos-{self.run_id}/{cell.hop}-{cell.fault}/"
        files = workload.mix(prefix, csvs)
        progress("cell", cell=cell.name, files=len(files))
        began = time.monotonic()
        for target, rule in cell.rules:
            self.faults.add(target, **rule)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(self._drop, files))
        did = cell.action(self.stack) if cell.action is not None else ""
        if cell.rules:  # a rule stays on a while; a kill is over once the process is back
            time.sleep(max(0.0, began + FAULT_SECONDS - time.monotonic()))
        fired = self.faults.fired()
        self.faults.clear()
        cleared = time.monotonic()
        expected = len(files) + sum(f.parts for f in files if f.kind == "zip")
        recovered = self._wait_ended(prefix, expected, cleared + RECOVER_SECONDS)
        seconds = round(recovered - cleared, 1) if recovered is not None else None
        time.sleep(SETTLE_SECONDS)
        verdict = check(files, observe(self.p, prefix))
        details = list(verdict.details)
        if cell.rules and fired == 0:
            details.append("note: the fault never fired")
        if did:
            details.append(f"action: {did}")
        row = {
            "hop": cell.hop,
            "fault": cell.fault,
            "files": len(files),
            **verdict.counts(),
            "seconds_to_recover": seconds,
            "fired": fired,
            "details": details,
        }
        progress("cell_done", **{k: v for k, v in row.items() if k != "details"})
        return row

    def _drop(self, f: workload.Expected) -> None:
        self.p.blobs.upload(self.p.settings.container_incoming, f.name, f.data)

    def _wait_ended(self, prefix: str, expected: int, deadline: float) -> float | None:
        while time.monotonic() < deadline:
            runs = cell_runs(self.p, prefix)
            if len(runs) >= expected and all(r.state.terminal for r in runs):
                return time.monotonic()
            time.sleep(1.0)
        return None


def run_matrix(cells: list[Cell], csvs: int, keep: Path | None = None) -> dict[str, Any]:
    """Every cell on one stack (in a temporary folder unless `keep`); the report."""
    state_dir = keep or Path(tempfile.mkdtemp(prefix="dropbatch-chaos-"))
    progress("starting", cells=len(cells), state_dir=str(state_dir))
    chaos = Chaos.start(state_dir)
    rows: list[dict[str, Any]] = []
    try:
        for cell in cells:
            try:
                rows.append(chaos.run(cell, csvs))
            finally:
                chaos.faults.clear()
    finally:
        chaos.stack.stop()
        if keep is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    return report(rows)


def report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The report: the rows and a summary line."""
    bad = [r for r in rows if r["lost"] or r["duplicated"] or r["wrong"]]
    files = sum(r["files"] for r in rows)
    summary = (
        f"{len(rows)} cells, {files} files: {len(bad)} bad"
        + (f" ({', '.join(r['hop'] + ':' + r['fault'] for r in bad)})" if bad else "")
        + f"; lost {sum(r['lost'] for r in rows)}, duplicated "
        f"{sum(r['duplicated'] for r in rows)}, wrong {sum(r['wrong'] for r in rows)}"
    )
    return {"cells": rows, "summary": summary}


def failed(result: dict[str, Any]) -> bool:
    return any(r["lost"] or r["duplicated"] or r["wrong"] for r in result["cells"])

"""Waiting for runs of the whole local stack to end, as an operator would watch them."""

from __future__ import annotations

import time

from batch_core.pipeline import Pipeline
from batch_core.run import Run


def runs_under(p: Pipeline, prefix: str, limit: int = 5000) -> list[Run]:
    return [r for r in p.ledger.recent(limit) if r.name.startswith(prefix)]


def wait_for_runs(p: Pipeline, prefix: str, expected: int, timeout: float = 240.0) -> list[Run]:
    """The runs of blobs named `prefix…` once there are `expected` of them, all ended."""
    deadline = time.monotonic() + timeout
    runs: list[Run] = []
    while time.monotonic() < deadline:
        runs = runs_under(p, prefix)
        if len(runs) >= expected and all(r.state.terminal for r in runs):
            return runs
        time.sleep(1)
    states = sorted((r.name, r.state.value, r.reason) for r in runs if not r.state.terminal)
    raise AssertionError(f"{len(runs)}/{expected} runs, not all ended: {states}")

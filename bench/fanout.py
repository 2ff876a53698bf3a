"""Benchmark `fanout`: what a sweep of N members costs in Batch requests per reconcile tick,
end to end on the local stack: the example sum-of-powers program (examples/sweep/app) over a
JSON of N items, planned on a node, members created in chunks of 100, watched through the
job's task counts and one filtered list of changed tasks per tick, then merged. Each tick is
counted by the Batch service's own request stats (reset before, read after).

    python -m bench.fanout --members 1000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError

from batch_core import intake, reconcile
from batch_core.blobstore import blob_service
from batch_core.clock import utcnow
from batch_core.fanoutend import state_of
from batch_core.pipeline import Pipeline
from batch_core.routebook import load_routes
from batch_core.settings import Settings
from bench.harness import BatchStats, local_stack, percentile, progress, result, run_main
from devstack.sweepapp import APP_DIR, task_and_merge
from worker.contract import output_prefix

NAME = "fanout"
ROUTES = """
version = 1
[defaults]
backoff = "0s"
[pool.sweep]
id = "{pool}"
autoscale = false
dedicated_max = 1
task_slots_per_node = {slots}
install_worker = false
[[route]]
name = "sweep"
match = ["{folder}/*.json"]
kind = "command"
pool = "sweep"
[route.fanout]
source = "items"
{sections}
"""


def sweep_pipeline(settings: Settings, folder: Path, tag: str, slots: int = 8) -> Pipeline:
    """A pipeline whose one route is the example sweep on a pool of its own, the example
    program pushed to the assets container under `sweep-bench-<tag>/`."""
    app = f"sweep-bench-{tag}"
    routes = folder / "routes.toml"
    routes.write_text(
        ROUTES.format(
            pool=f"sweep-{tag}", slots=slots, folder=f"sweeps-{tag}", sections=task_and_merge(app)
        )
    )
    service = blob_service(settings)
    with contextlib.suppress(ResourceExistsError):
        service.create_container(settings.container_config)
    config = service.get_container_client(settings.container_config)
    for program in ("member.py", "merge.py"):
        config.upload_blob(f"{app}/{program}", (APP_DIR / program).read_bytes(), overwrite=True)
    return Pipeline.build(settings, routes=load_routes(routes))


def sweep_items(members: int) -> list[dict[str, int]]:
    return [{"start": i * 10, "stop": i * 10 + 10} for i in range(members)]


def expected_total(items: list[dict[str, int]], power: int = 2) -> int:
    return sum(k**power for item in items for k in range(item["start"], item["stop"]))


def run_sweep(
    p: Pipeline, stats: BatchStats, tag: str, members: int, timeout: float = 900.0
) -> dict[str, Any]:
    """Drop one sweep, tick until it ends; the requests and phase of every tick."""
    items = sweep_items(members)
    name = f"sweeps-{tag}/{uuid.uuid4().hex[:8]}.json"
    body = json.dumps({"global": {"power": 2}, "items": items}).encode()
    stats.reset()
    run = intake.receive(p, p.blobs.upload(p.settings.container_incoming, name, body), utcnow())
    assert run is not None
    intake_requests = stats.snapshot()["total"]
    ticks: list[dict[str, Any]] = []
    started = time.monotonic()
    while True:
        phase = state_of(run).phase
        stats.reset()
        reconcile.tick(p, utcnow())
        counted = stats.snapshot()
        ticks.append(
            {"phase": phase, "requests": counted["total"], "operations": counted["operations"]}
        )
        stored = p.ledger.get(run.key)
        assert stored is not None
        run = stored
        if run.state.terminal or time.monotonic() - started > timeout:
            break
        time.sleep(0.5)
    prefix = output_prefix(run.name, run.key)
    outputs = sum(
        1
        for b in p.blobs.list(p.settings.container_results, prefix=f"{prefix}/members/")
        if b.name.endswith("/outputs.json")
    )
    total = p.blobs.read_json(p.settings.container_results, f"{prefix}/total.json") or {}
    return {
        "run": run,
        "state": run.state.value,
        "reason": run.reason,
        "outputs": outputs,
        "total": total.get("total"),
        "expected_total": expected_total(items),
        "intake_requests": intake_requests,
        "ticks": ticks,
        "seconds": round(time.monotonic() - started, 1),
    }


def summarize(outcome: dict[str, Any]) -> dict[str, Any]:
    ticks = outcome["ticks"]
    watching = [t["requests"] for t in ticks if t["phase"] == "running"]
    return {
        "state": outcome["state"],
        "member_outputs": outcome["outputs"],
        "total_matches": outcome["total"] == outcome["expected_total"],
        "seconds_to_end": outcome["seconds"],
        "ticks": len(ticks),
        "intake_requests": outcome["intake_requests"],
        "requests_per_tick_max": max(t["requests"] for t in ticks),
        "watching_ticks": len(watching),
        "watching_requests_per_tick_max": max(watching, default=None),
        "watching_requests_per_tick_p50": percentile(watching, 0.5),
        "creating_ticks": [t for t in ticks if t["phase"] != "running"],
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    with local_stack(NAME, with_functions=False) as stack, tempfile.TemporaryDirectory() as tmp:
        tag = uuid.uuid4().hex[:8]
        p = sweep_pipeline(Settings.from_env(stack.values), Path(tmp), tag, args.slots)
        outcome = run_sweep(p, BatchStats.of(stack), tag, args.members)
        progress("sweep_ended", state=outcome["state"], seconds=outcome["seconds"])
    return result(NAME, {"members": args.members, "slots": args.slots}, summarize(outcome), started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--members", type=int, default=1000, help="items in the sweep")
    parser.add_argument("--slots", type=int, default=8, help="task slots of the one node")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark `reconcile`: what one reconcile tick costs (Batch REST requests, seconds) on an
idle pipeline, first with no history, then with N completed historical files.

The history is what a busy day leaves behind, built cheaply but for real:
- N small files in the archive container, where each run's end moved its file from
  incoming (DROPBATCH_TERMINAL_ORIGINALS=archive, the default): incoming holds none of them;
- N ledger runs in the terminal state `succeeded`, keyed by the etags the files had in
  incoming, with the job and task ids the pipeline would have given them, and the archive
  copy as their `original`;
- N Batch tasks with those ids on the job of the day, added with `create_tasks` (100 per
  request) running a no-op command, all completed before the ticks.

Ticks are called in-process, as the timer function calls them: one pipeline built once and
one sweep gate per scenario (the function app keeps both for its lifetime). The first tick
of a scenario lists the incoming container (the sweep); the steady ones, within
DROPBATCH_SWEEP_SECONDS, do not. `parts_seconds` times the tick's read-only queries alone.

    python -m bench.reconcile --history 10000 --ticks 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.batch import models
from azure.storage.blob import ContainerClient

from batch_core import reconcile
from batch_core.batch_service import BatchService
from batch_core.blobstore import blob_service
from batch_core.clock import utcnow
from batch_core.cosmosdb import RUNS, cosmos_client
from batch_core.keys import file_key, task_id
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from batch_core.states import RunState
from batch_core.submission import job_id_for
from bench.batchwatch import BatchWatch
from bench.data import csv_bytes
from bench.harness import BatchStats, local_stack, progress, result, rounded, run_main
from worker.contract import output_prefix

NAME = "reconcile"
NOOP_COMMAND = "/bin/true"
CONCURRENCY = 16


def one_tick(p: Pipeline, stats: BatchStats, gate: reconcile.SweepGate) -> dict[str, Any]:
    stats.reset()
    swept_before = gate.last
    start = time.perf_counter()
    report = reconcile.tick(p, utcnow(), gate)
    seconds = time.perf_counter() - start
    counted = stats.snapshot()
    tick = report.as_dict()
    return {
        "seconds": round(seconds, 3),
        "sweep_ran": gate.last != swept_before,
        "batch_requests": counted["total"],
        "batch_operations": counted["operations"],
        "examined": tick["examined"],
        "swept": tick["swept"],
        "moved": tick["moved"],
        "errors": len(tick["errors"]),
    }


def parts(p: Pipeline) -> dict[str, float]:
    """Seconds of the tick's read-only parts, each alone: where the time of a tick goes."""
    container = p.settings.container_incoming
    account = p.blobs.account
    timed: dict[str, Callable[[], object]] = {
        "ledger_active_query": p.ledger.active,
        "ledger_unalerted_query": p.ledger.unalerted,
        "ledger_unsettled_query": p.ledger.unsettled,
        "sweep_list_incoming": lambda: sum(1 for _ in p.blobs.list(container)),
        "sweep_ledger_keys_query": lambda: p.ledger.known_keys(
            file_key(account, container, b.name, b.etag) for b in p.blobs.list(container)
        ),
    }
    seconds: dict[str, float] = {}
    for name, call in timed.items():
        start = time.perf_counter()
        call()
        seconds[name] = round(time.perf_counter() - start, 3)
    return seconds


def scenario(p: Pipeline, stats: BatchStats, ticks: int, label: str) -> dict[str, Any]:
    """`ticks` ticks as the timer function runs them: one sweep gate for the scenario (as the
    function app keeps one for its lifetime), so the first tick sweeps the incoming container
    and the next ones, within DROPBATCH_SWEEP_SECONDS, do not."""
    gate = reconcile.SweepGate(every=dt.timedelta(seconds=p.settings.sweep_seconds))
    runs = []
    for i in range(ticks):
        runs.append(one_tick(p, stats, gate))
        progress(
            "tick",
            scenario=label,
            tick=i + 1,
            seconds=runs[-1]["seconds"],
            sweep=runs[-1]["sweep_ran"],
            batch_requests=runs[-1]["batch_requests"],
        )
    steady = runs[1:] or runs
    return {
        "first_tick": runs[0],
        "steady_tick": {
            "seconds_mean": round(sum(r["seconds"] for r in steady) / len(steady), 3),
            "seconds_max": max(r["seconds"] for r in steady),
            "sweep_ran": any(r["sweep_ran"] for r in steady),
            "batch_requests": steady[-1]["batch_requests"],
            "batch_operations": steady[-1]["batch_operations"],
            "examined": steady[-1]["examined"],
        },
        "ticks": len(runs),
        "parts_seconds": parts(p),
    }


def archived_name(account: str, incoming: str, name: str, etag: str) -> str:
    """Where the end of its run moved a file of incoming in the archive container."""
    key = file_key(account, incoming, name, etag)
    return f"{output_prefix(name, key)}/{name.rsplit('/', 1)[-1]}"


def upload_history(
    archive: ContainerClient, names: list[str], account: str, incoming: str
) -> dict[str, tuple[str, int]]:
    """The historical files, where their runs' ends left them in the archive (under the
    file key of the version incoming had: a made-up etag); returns name -> (etag, size)."""
    data = csv_bytes(1)

    def one(name: str) -> tuple[str, str, int]:
        etag = "0x8DE" + hashlib.sha256(name.encode()).hexdigest()[:13].upper()
        kept = archived_name(account, incoming, name, etag)
        archive.get_blob_client(kept).upload_blob(data, overwrite=True)
        return name, etag, len(data)

    with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="history") as pool:
        return {name: (etag, size) for name, etag, size in pool.map(one, names)}


def history_runs(
    p: Pipeline, files: dict[str, tuple[str, int]], job: str, now: dt.datetime
) -> list[Run]:
    created, ended = now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)
    incoming, archive = p.settings.container_incoming, p.settings.container_archive
    runs = []
    for name, (etag, size) in files.items():
        key = file_key(p.blobs.account, incoming, name, etag)
        tid = task_id(name, key)
        runs.append(
            Run(
                key=key,
                container=incoming,
                name=name,
                etag=etag,
                size=size,
                route="csv",
                state=RunState.SUCCEEDED,
                reason="processed",
                created_at=created,
                updated_at=ended,
                attempt=1,
                job_id=job,
                task_id=tid,
                summary={"rows": 1, "documents": 1, "rejects": 0},
                input_removed=True,
                original=f"{archive}/{archived_name(p.blobs.account, incoming, name, etag)}",
                history=(
                    {"at": created.isoformat(), "state": "received", "reason": "received"},
                    {
                        "at": created.isoformat(),
                        "state": "submitted",
                        "reason": f"attempt 1: task {tid} on job {job}",
                    },
                    {"at": ended.isoformat(), "state": "succeeded", "reason": "processed"},
                ),
            )
        )
    return runs


def build_history(p: Pipeline, stack_watch: BatchWatch, n: int) -> dict[str, Any]:
    now = utcnow()
    job = job_id_for(p.settings, now.date())
    timings: dict[str, float] = {}

    t = time.perf_counter()
    archive = blob_service(p.settings).get_container_client(p.settings.container_archive)
    names = [f"history/{i // 1000:03d}/file-{i:06d}.csv" for i in range(n)]
    files = upload_history(archive, names, p.blobs.account, p.settings.container_incoming)
    timings["upload_files"] = time.perf_counter() - t
    progress("history_files", files=len(files), seconds=round(timings["upload_files"], 1))

    t = time.perf_counter()
    runs = history_runs(p, files, job, now)
    container = (
        cosmos_client(p.settings)
        .get_database_client(p.settings.cosmos_database)
        .get_container_client(RUNS)
    )
    with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="ledger") as pool:
        for _ in pool.map(lambda r: container.upsert_item(r.to_doc()), runs):
            pass
    timings["write_ledger"] = time.perf_counter() - t
    progress("history_ledger", runs=len(runs), seconds=round(timings["write_ledger"], 1))

    t = time.perf_counter()
    tasks = [
        models.BatchTaskCreateOptions(id=str(r.task_id), command_line=NOOP_COMMAND) for r in runs
    ]
    stack_watch.client.create_tasks(job, tasks, max_concurrency=4)
    while True:
        counts = stack_watch.client.get_job_task_counts(job).task_counts
        if counts.completed >= n:
            break
        progress("history_tasks", completed=counts.completed, of=n)
        time.sleep(2)
    timings["batch_tasks"] = time.perf_counter() - t
    progress(
        "history_tasks", completed=counts.completed, of=n, seconds=round(timings["batch_tasks"], 1)
    )
    return {
        "files": len(files),
        "ledger_runs": len(runs),
        "batch_tasks_completed": int(counts.completed),
        "job": "job of the day",
        "build_seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    with local_stack(NAME, with_functions=False) as stack:
        p = Pipeline.build(Settings.from_env(stack.values))
        stats = BatchStats.of(stack)
        watch = BatchWatch(stack)
        # An idle pipeline that has run before: the pool and the job of the day exist.
        assert isinstance(p.batch, BatchService), p.batch
        p.batch.ensure_pool()
        p.batch.ensure_job(job_id_for(p.settings, utcnow().date()))
        empty = scenario(p, stats, args.ticks, "no_history")
        history = build_history(p, watch, args.history)
        loaded = scenario(p, stats, args.ticks, "with_history")
        watch.close()
    e, h = empty["steady_tick"], loaded["steady_tick"]
    measurements = {
        "no_history": empty,
        "with_history": loaded,
        "history": history,
        "sweep_seconds_setting": p.settings.sweep_seconds,
        "steady_seconds_ratio": rounded(
            h["seconds_mean"] / e["seconds_mean"] if e["seconds_mean"] else None, 2
        ),
        "first_tick_seconds": {
            "no_history": empty["first_tick"]["seconds"],
            "with_history": loaded["first_tick"]["seconds"],
        },
        "steady_batch_requests": {
            "no_history": e["batch_requests"],
            "with_history": h["batch_requests"],
            "extra_with_history": h["batch_requests"] - e["batch_requests"],
        },
    }
    params = {"history": args.history, "ticks": args.ticks}
    return result(NAME, params, measurements, started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reconcile", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--history", type=int, default=10000, help="completed historical files")
    parser.add_argument("--ticks", type=int, default=3, help="ticks per scenario (first + steady)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

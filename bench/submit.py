"""Benchmark `submit`: N small CSV files dropped at once with the Functions host running.

Measures, from the moment the uploads start:
- seconds until every file has its Batch task (the latest task `creationTime`), and until
  every run is terminal in the ledger (the latest run `updated_at`) and every task completed;
- Batch REST requests per file, counted by the local Batch service (this benchmark's own
  look-ups are counted on the client side and taken out);
- trigger latency per file: its upload's completion -> its task's `creationTime`;
- with `--nodes 0`, the function app's ledger writes per file until every task exists,
  counted by the local Cosmos server (`bench.cosmosstats`).

The app is warm when the measured files land: `--warm-up-files` files (default 1) are dropped
first and their tasks awaited, so the figures are of an app already running, not of its
first invocation (which builds the pipeline, checks the pool and creates the day's job). What
the warm-up took is reported beside them (`warm_up`), and nothing it did is counted in them.

    python -m bench.submit --files 1000 --rows 20
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.cosmos import ContainerProxy
from azure.storage.blob import ContainerClient

from batch_core.blobstore import blob_service
from batch_core.cosmosdb import RUNS, cosmos_client
from batch_core.keys import file_key, normalize_etag, task_id
from batch_core.settings import Settings
from batch_core.states import TERMINAL
from bench.batchwatch import BatchWatch, TaskView
from bench.cosmosstats import CosmosStats, app_requests
from bench.data import csv_bytes
from bench.harness import (
    BatchStats,
    local_stack,
    operations_minus,
    progress,
    result,
    run_main,
)
from bench.submitprofile import cpu_seconds, cpu_used, profile, read_lines, worker_phases
from bench.submitsummary import Dropped, summarize
from devstack.stack import Stack

NAME = "submit"


def upload_all(
    incoming: ContainerClient, files: list[tuple[str, bytes]], concurrency: int
) -> list[Dropped]:
    def one(item: tuple[str, bytes]) -> Dropped:
        name, data = item
        props = incoming.get_blob_client(name).upload_blob(data, overwrite=True)
        return Dropped(name, normalize_etag(str(props["etag"])), time.time())

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="upload") as pool:
        return list(pool.map(one, files))


def upload_spaced(
    incoming: ContainerClient, files: list[tuple[str, bytes]], spacing: float
) -> list[Dropped]:
    """One file at a time, `spacing` seconds apart: each trigger finds its file alone."""
    dropped: list[Dropped] = []
    for i, (name, data) in enumerate(files):
        if i:
            time.sleep(spacing)
        props = incoming.get_blob_client(name).upload_blob(data, overwrite=True)
        dropped.append(Dropped(name, normalize_etag(str(props["etag"])), time.time()))
    return dropped


def warm_up(
    incoming: ContainerClient,
    watch: BatchWatch,
    settings: Settings,
    files: int,
    rows: int,
    deadline: float,
    poll: float,
) -> dict[str, Any]:
    """Drop `files` files and wait for their tasks: the app's first invocation (pipeline,
    pool check, the day's job) is then behind it. Its own seconds, for the record."""
    if files <= 0:
        return {"files": 0}
    prefix = f"warm-up-{uuid.uuid4().hex[:8]}/"
    batch = [(f"{prefix}file-{i:05d}.csv", csv_bytes(rows, first=i * rows)) for i in range(files)]
    t0 = time.time()
    dropped = upload_all(incoming, batch, max(1, min(files, 16)))
    account = settings.storage_account
    expected = {
        task_id(d.name, file_key(account, settings.container_incoming, d.name, d.etag))
        for d in dropped
    }
    created = wait_submitted(watch, f"{settings.batch_job_prefix}-", expected, deadline, poll)
    if created < len(expected):
        raise RuntimeError(f"warm-up: {created} of {len(expected)} tasks created in time")
    return {"files": files, "seconds_until_all_submitted": round(time.time() - t0, 2)}


def host_profile(
    stack: Stack, container: str, dropped: list[Dropped], deadline: float
) -> dict[str, Any]:
    """The per-phase profile of the files' invocations from the host's log, once every
    invocation has logged its end (its task exists before it does)."""
    log = stack.functions.log_path if stack.functions is not None else None
    if log is None:
        return {}
    uploaded = {f"{container}/{d.name}": d.uploaded_at for d in dropped}
    wait_until = min(deadline, time.monotonic() + 15)
    while True:
        found = profile(read_lines(log), uploaded)
        ended = found["seconds"].get("invocation", {}).get("n", 0)
        if ended >= len(dropped) or time.monotonic() >= wait_until:
            return found
        time.sleep(0.5)


def run_states(runs: ContainerProxy, prefix: str) -> list[dict[str, Any]]:
    query = "SELECT c.name, c.state FROM c WHERE STARTSWITH(c.name, @p)"
    return list(
        runs.query_items(
            query, parameters=[{"name": "@p", "value": prefix}], enable_cross_partition_query=True
        )
    )


def our_tasks(watch: BatchWatch, job_prefix: str, expected: set[str]) -> dict[str, TaskView]:
    found: dict[str, TaskView] = {}
    for job in watch.job_ids(job_prefix):
        for view in watch.tasks(job):
            if view.id in expected:
                found[view.id] = view
    return found


def wait_submitted(
    watch: BatchWatch, job_prefix: str, expected: set[str], deadline: float, poll: float
) -> int:
    seen: set[str] = set()
    last = -1
    while time.monotonic() < deadline:
        for job in watch.job_ids(job_prefix):
            seen.update(t for t in watch.task_ids(job) if t in expected)
        if len(seen) != last:
            progress("tasks_created", count=len(seen), of=len(expected))
            last = len(seen)
        if len(seen) >= len(expected):
            break
        time.sleep(poll)
    return len(seen)


def wait_terminal(
    runs: ContainerProxy, prefix: str, n: int, deadline: float, poll: float
) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    last: dict[str, int] = {}
    while time.monotonic() < deadline:
        docs = run_states(runs, prefix)
        states = dict(Counter(str(d["state"]) for d in docs))
        if states != last:
            progress("run_states", **states)
            last = states
        if len(docs) >= n and all(d["state"] in TERMINAL for d in docs):
            break
        time.sleep(poll)
    return docs


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    params: dict[str, Any] = {
        "files": args.files,
        "rows_per_file": args.rows,
        "warm_up_files": args.warm_up_files,
    }
    if args.one_at_a_time:
        params |= {"one_at_a_time": True, "spacing_seconds": args.spacing}
    overrides = {"DROPBATCH_RECONCILE_SCHEDULE": args.reconcile_schedule}
    if args.nodes is not None:
        # A fixed pool of that many nodes; with 0 no task runs, so the figure is the trigger
        # path alone (intake, the ledger, the submitter), not the machine's workers.
        overrides |= {
            "DROPBATCH_BATCH_AUTOSCALE": "false",
            "DROPBATCH_BATCH_MAX_NODES": str(args.nodes),
        }
    with local_stack(NAME, with_functions=True, overrides=overrides, tag_callers=True) as stack:
        settings = Settings.from_env(stack.values)
        params.update(
            {
                "reconcile_schedule": stack.values.get("DROPBATCH_RECONCILE_SCHEDULE", ""),
                "pool_nodes": settings.batch_max_nodes,
                "task_slots_per_node": settings.batch_task_slots_per_node,
                "upload_concurrency": args.upload_concurrency,
            }
        )
        blobs = blob_service(settings)
        incoming = blobs.get_container_client(settings.container_incoming)
        runs = (
            cosmos_client(settings)
            .get_database_client(settings.cosmos_database)
            .get_container_client(RUNS)
        )
        watch = BatchWatch(stack)
        stats = BatchStats.of(stack)
        cosmos = CosmosStats.of(stack)
        prefix = f"bench-{uuid.uuid4().hex[:8]}/"
        files = [
            (f"{prefix}file-{i:05d}.csv", csv_bytes(args.rows, first=i * args.rows))
            for i in range(args.files)
        ]
        progress("files_generated", files=len(files), bytes=sum(len(d) for _, d in files))

        deadline = time.monotonic() + args.timeout
        warm = warm_up(
            incoming, watch, settings, args.warm_up_files, args.rows, deadline, args.poll
        )
        progress("warmed_up", **warm)
        stats.reset()
        cosmos.reset()
        watch.own.clear()
        cpu_before = cpu_seconds(stack)
        t0 = time.time()
        if args.one_at_a_time:
            dropped = upload_spaced(incoming, files, args.spacing)
        else:
            dropped = upload_all(incoming, files, args.upload_concurrency)
        upload_seconds = time.time() - t0
        progress("uploaded", files=len(dropped), seconds=round(upload_seconds, 2))

        account = settings.storage_account
        by_task = {
            task_id(d.name, file_key(account, settings.container_incoming, d.name, d.etag)): d
            for d in dropped
        }
        job_prefix = f"{settings.batch_job_prefix}-"
        created = wait_submitted(watch, job_prefix, set(by_task), deadline, args.poll)
        seen_submitted = time.time() - t0
        at_submitted = stats.snapshot()
        cosmos_at_submitted = cosmos.snapshot()
        own_at_submitted = dict(watch.own)
        cpu = cpu_used(cpu_before, cpu_seconds(stack))
        host = host_profile(stack, settings.container_incoming, dropped, deadline)

        # With no node no run can end: only the submission is measured.
        docs = (
            [] if args.nodes == 0 else wait_terminal(runs, prefix, len(files), deadline, args.poll)
        )
        seen_terminal = time.time() - t0
        at_end = stats.snapshot()
        own_at_end = dict(watch.own)
        tasks = our_tasks(watch, job_prefix, set(by_task))
        watch.close()
        phases = worker_phases(blobs.get_container_client(settings.container_logs), prefix)

    measurements = summarize(
        t0=t0,
        dropped=by_task,
        tasks=tasks,
        docs=docs,
        upload_seconds=upload_seconds,
        seen_submitted=seen_submitted,
        seen_terminal=seen_terminal,
        created=created,
        requests_at_submitted=operations_minus(at_submitted["operations"], own_at_submitted),
        requests_at_end=operations_minus(at_end["operations"], own_at_end),
        statuses=at_end.get("statuses", {}),
    )
    if args.nodes == 0:
        measurements["cosmos_requests"] = app_requests(cosmos_at_submitted, len(files))
    measurements["worker_phase_seconds"] = phases
    measurements["warm_up"] = warm
    measurements["profile"] = host | {"cpu_seconds_until_all_submitted": cpu}
    return result(NAME, params, measurements, started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.submit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--files", type=int, default=1000, help="CSV files dropped at once")
    parser.add_argument("--rows", type=int, default=20, help="data rows per file")
    parser.add_argument("--upload-concurrency", type=int, default=16)
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="upload the files one by one, --spacing seconds apart, instead of all at once",
    )
    parser.add_argument(
        "--spacing", type=float, default=2.0, help="seconds between uploads (--one-at-a-time)"
    )
    parser.add_argument(
        "--reconcile-schedule",
        default="*/15 * * * * *",
        help="NCRONTAB of the reconcile timer (the sample settings' value by default)",
    )
    parser.add_argument(
        "--warm-up-files",
        type=int,
        default=1,
        help="files dropped, and their tasks awaited, before the measured ones (0: none)",
    )
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between look-ups")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after (seconds)")
    parser.add_argument(
        "--nodes",
        type=int,
        default=None,
        help="a fixed pool of this many nodes (0: no task runs; the submitter alone)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

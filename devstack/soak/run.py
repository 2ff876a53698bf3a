"""One soak: a whole local stack on free ports, files dropped in waves, the servers sampled,
the ledger, Batch and Cosmos read back at the end and judged."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.cosmos import ContainerProxy

from batch_core.blobstore import blob_service
from batch_core.cosmosdb import RECORDS, RUNS, cosmos_client
from batch_core.keys import file_key, task_attempt
from batch_core.settings import Settings
from batch_core.states import TERMINAL
from bench.batchwatch import BatchWatch, TaskView
from bench.harness import local_stack, progress, scratch_dir
from bench.submit import run_states, upload_all, wait_terminal
from devstack.soak import plan
from devstack.soak.checks import EXAMPLES, judge
from devstack.soak.plan import Mix, Planned
from devstack.soak.report import TaskTimes, WaveDrop, memory_series, wave_figures
from devstack.soak.sampler import Sample, Sampler
from devstack.stack import Stack

NAME = "soak"


@dataclass(frozen=True)
class Options:
    files: int
    wave: int
    interval: float  # seconds from one wave's start to the next's
    mix: Mix
    sample_seconds: float = 5.0
    poll_seconds: float = 3.0
    timeout: float = 7200.0  # after the last wave
    upload_concurrency: int = 16
    out: Path | None = None  # where the JSON goes; None: bench/results


def overrides(routes: Path) -> dict[str, str]:
    """The app's settings for the soak: its routes file, and fixed pools so the figures do
    not follow the autoscale formula's evaluation times."""
    return {
        "DROPBATCH_ROUTES_FILE": str(routes),
        "DROPBATCH_BATCH_AUTOSCALE": "false",
        "DROPBATCH_BATCH_MAX_NODES": "2",
    }


def soak(opts: Options) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Run the soak; returns (parameters, measurements, whether nothing was lost,
    duplicated or wrong)."""
    prefix = f"soak-{uuid.uuid4().hex[:8]}/"
    waves = plan.plan_waves(opts.files, opts.wave, prefix, opts.mix)
    with scratch_dir("soak-routes") as folder:
        routes = folder / "routes.toml"
        routes.write_text(plan.ROUTES, encoding="utf-8")
        with local_stack(NAME, with_functions=True, overrides=overrides(routes)) as stack:
            return _soak_on(stack, opts, waves, prefix)


def _soak_on(
    stack: Stack, opts: Options, waves: list[list[Planned]], prefix: str
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    settings = Settings.from_env(stack.values)
    params = parameters(opts, settings, stack.values)
    sampler = Sampler(
        lambda: {p.name: p.pid for p in stack.processes() if p.running()}, opts.sample_seconds
    ).start()
    try:
        return _drop_and_judge(stack, opts, waves, prefix, sampler, params)
    finally:
        sampler.stop()


def _drop_and_judge(
    stack: Stack,
    opts: Options,
    waves: list[list[Planned]],
    prefix: str,
    sampler: Sampler,
    params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    settings = Settings.from_env(stack.values)
    blobs = blob_service(settings)
    incoming = blobs.get_container_client(settings.container_incoming)
    database = cosmos_client(settings).get_database_client(settings.cosmos_database)
    runs = database.get_container_client(RUNS)
    points: list[tuple[str, Sample]] = [("start", sampler.sample())]
    keys: dict[str, str] = {}
    drops: list[WaveDrop] = []
    t0 = time.time()
    for planned in waves:
        wave_started = time.monotonic()
        drops.append(drop_wave(incoming, planned, opts.upload_concurrency, keys, settings))
        point = sampler.sample()
        points.append((f"wave {planned[0].wave}", point))
        progress(
            "wave_dropped",
            wave=planned[0].wave,
            files=len(planned),
            ledger=_state_counts(runs, prefix),
            rss_mib={n: u.rss_mib for n, u in point.servers.items()},
        )
        if planned is not waves[-1]:
            time.sleep(max(0.0, wave_started + opts.interval - time.monotonic()))
    all_planned = [f for planned in waves for f in planned]
    deadline = time.monotonic() + opts.timeout
    docs = wait_terminal(runs, prefix, len(all_planned), deadline, opts.poll_seconds)
    seen_terminal = time.time() - t0
    points.append(("end", sampler.sample()))

    full_docs = ledger_docs(runs, prefix)
    watch = BatchWatch(stack)
    tasks = [view for job in watch.job_ids("") for view in watch.tasks(job)]
    watch.close()
    records = record_ids(database.get_container_client(RECORDS))
    results = blobs.get_container_client(settings.container_results)
    outputs = [b.name for b in results.list_blobs(name_starts_with=prefix)]
    verdict = judge(all_planned, keys, full_docs, [t.id for t in tasks], records, outputs)
    per_wave, overall = wave_figures(waves, drops, keys, first_tasks(tasks))
    all_terminal = len(docs) >= len(all_planned) and all(d["state"] in TERMINAL for d in docs)
    measurements = {
        "files": len(all_planned),
        **verdict.as_json(EXAMPLES),
        "run_states": dict(Counter(str(d["state"]) for d in full_docs)),
        "retried_files": sum(1 for d in full_docs if int(d.get("attempt") or 0) > 1),
        "batch_tasks": len(tasks),
        "cosmos_records": len(records),
        "seconds_until_all_terminal": round(seen_terminal, 1) if all_terminal else None,
        "seconds_dropping": round(drops[-1].started_at - t0, 1),
        "trigger_latency_seconds": overall,
        "waves": per_wave,
        "memory": sampler.summary(),
        "memory_by_wave": memory_series(points),
    }
    return params, measurements, verdict.ok


def parameters(opts: Options, settings: Settings, stack_values: dict[str, str]) -> dict[str, Any]:
    return {
        "files": opts.files,
        "wave": opts.wave,
        "interval_seconds": opts.interval,
        "mix": opts.mix.as_json(),
        "csv_rows_per_file": plan.CSV_ROWS,
        "light_command": "wc -l < {base} > lines.txt (output uploaded to results)",
        "pools": {
            "default (csv)": {
                "nodes": settings.batch_max_nodes,
                "task_slots_per_node": settings.batch_task_slots_per_node,
            },
            f"{plan.LIGHT_POOL_ID} (light)": {
                "nodes": plan.LIGHT_NODES,
                "task_slots_per_node": plan.LIGHT_SLOTS,
            },
        },
        "reconcile_schedule": stack_values.get("DROPBATCH_RECONCILE_SCHEDULE", ""),
        "sample_seconds": opts.sample_seconds,
        "upload_concurrency": opts.upload_concurrency,
    }


def drop_wave(
    incoming: Any, planned: Sequence[Planned], concurrency: int, keys: dict[str, str], s: Settings
) -> WaveDrop:
    """Upload one wave; note each file's key (of the version uploaded) in `keys`."""
    started = time.time()
    dropped = upload_all(incoming, [(f.name, f.data) for f in planned], concurrency)
    for d in dropped:
        keys[d.name] = file_key(s.storage_account, s.container_incoming, d.name, d.etag)
    return WaveDrop(started, {d.name: d.uploaded_at for d in dropped})


def ledger_docs(runs: ContainerProxy, prefix: str) -> list[dict[str, Any]]:
    query = "SELECT c.id, c.name, c.state, c.attempt, c.reason FROM c WHERE STARTSWITH(c.name, @p)"
    return list(
        runs.query_items(
            query, parameters=[{"name": "@p", "value": prefix}], enable_cross_partition_query=True
        )
    )


def record_ids(records: ContainerProxy) -> list[tuple[str, str]]:
    found = records.query_items("SELECT c.pk, c.id FROM c", enable_cross_partition_query=True)
    return [(str(r["pk"]), str(r["id"])) for r in found]


def first_tasks(tasks: Sequence[TaskView]) -> dict[str, TaskTimes]:
    """Each file's attempt-1 task times, by the first 32 characters of its key."""
    out: dict[str, TaskTimes] = {}
    for view in tasks:
        found = task_attempt(view.id)
        if found is not None and found[1] == 1:
            out[found[0]] = TaskTimes(view.created, view.ended)
    return out


def _state_counts(runs: ContainerProxy, prefix: str) -> dict[str, int]:
    return dict(Counter(str(d["state"]) for d in run_states(runs, prefix)))

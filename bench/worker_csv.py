"""Benchmark `worker_csv`: rows per second of the worker's CSV -> Cosmos DB path, against two
references on the same Cosmos server in the same run:

- worker:   the worker's own entry point (`worker.__main__.main`) on one CSV blob, as a Batch
            task would run it: download, check pass, concurrent upserts, clean-up query,
            summary and task log;
- baseline: the classic sample's way: `csv.DictReader` and one `container.create_item` per
            row, in a sequential loop;
- ceiling:  the worker's exact documents, built beforehand (not timed), upserted
            concurrently with as many threads as the worker uses: no parsing at all.

Each variant writes to its own, empty container. Ratios: worker / baseline and
worker / ceiling (rows per second).

    python -m bench.worker_csv --rows 20000
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from azure.cosmos import ContainerProxy, DatabaseProxy, PartitionKey
from azure.storage.blob import BlobServiceClient

from batch_core.cosmosdb import cosmos_client
from batch_core.keys import file_key, normalize_etag
from batch_core.settings import Settings
from bench.data import csv_bytes
from bench.harness import local_stack, progress, result, rounded, run_main, scratch_dir
from devstack.stack import NODE_CREDENTIALS, Stack

NAME = "worker_csv"
VARIANTS = ("worker", "baseline", "ceiling")


def worker_environment(
    stack: Stack, settings: Settings, blob: str, etag: str, key: str, node: Path, records: str
) -> dict[str, str]:
    """What the Batch service gives the worker's task (see batch_core.submission.task_for)."""
    shared = node / "shared"
    (shared / NODE_CREDENTIALS).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(settings_credentials(stack), shared / NODE_CREDENTIALS)
    (node / "wd").mkdir(parents=True, exist_ok=True)
    return {
        "DROPBATCH_ROUTE": "csv",
        "DROPBATCH_FILE_KEY": key,
        "DROPBATCH_INPUT_CONTAINER": settings.container_incoming,
        "DROPBATCH_INPUT_BLOB": blob,
        "DROPBATCH_INPUT_ETAG": etag,
        "DROPBATCH_ATTEMPT": "1",
        "DROPBATCH_BLOB_ENDPOINT": settings.blob_endpoint,
        "DROPBATCH_COSMOS_ENDPOINT": settings.cosmos_endpoint,
        "DROPBATCH_COSMOS_DATABASE": settings.cosmos_database,
        "DROPBATCH_COSMOS_RECORDS_CONTAINER": records,
        "DROPBATCH_CONTAINER_INCOMING": settings.container_incoming,
        "DROPBATCH_CONTAINER_RESULTS": settings.container_results,
        "DROPBATCH_CONTAINER_LOGS": settings.container_logs,
        "AZ_BATCH_NODE_SHARED_DIR": str(shared),
        "AZ_BATCH_TASK_WORKING_DIR": str(node / "wd"),
        **dict(settings.worker_settings),
    }


def settings_credentials(stack: Stack) -> Path:
    return stack.state_dir / "node" / "credentials.json"


def count(container: ContainerProxy) -> int:
    found = list(
        container.query_items("SELECT VALUE COUNT(1) FROM c", enable_cross_partition_query=True)
    )
    # SELECT VALUE yields bare numbers; the SDK types every item as a dict.
    return sum(int(n) for n in found)  # type: ignore[call-overload]


def run_worker(env: dict[str, str]) -> tuple[int, float]:
    from worker.__main__ import main as worker_main

    start = time.perf_counter()
    code = worker_main(env)
    return code, time.perf_counter() - start


def worker_documents(env: dict[str, str], path: Path) -> list[dict[str, Any]]:
    """The documents the worker writes for this file, from its own builder."""
    from worker.document import Source
    from worker.ingest import documents
    from worker.settings import Settings as WorkerSettings

    ws = WorkerSettings.from_environ(env)
    source = Source(ws.input_container, ws.input_blob, ws.input_etag)
    with open(path, "rb") as handle:
        return list(documents(handle, ws.csv, ws.file_key, source))


def run_ceiling(container: ContainerProxy, docs: list[dict[str, Any]], threads: int) -> float:
    def upsert(doc: dict[str, Any]) -> None:
        container.upsert_item(doc)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ceiling") as pool:
        for _ in pool.map(upsert, docs):
            pass
    return time.perf_counter() - start


def run_baseline(container: ContainerProxy, data: bytes, pk: str) -> float:
    """The classic sample: read rows with DictReader, create one document per row, in order."""
    start = time.perf_counter()
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        container.create_item(body={"id": str(uuid.uuid4()), "pk": pk, **row})
    return time.perf_counter() - start


def fresh_container(db: DatabaseProxy, name: str) -> ContainerProxy:
    return db.create_container_if_not_exists(name, PartitionKey("/pk"))


def timed_variant(name: str, rows: int, run: Callable[[], float]) -> dict[str, Any]:
    progress("variant_started", variant=name, rows=rows)
    seconds = run()
    rate = rows / seconds if seconds > 0 else None
    progress(
        "variant_finished",
        variant=name,
        seconds=round(seconds, 2),
        rows_per_second=rounded(rate, 1),
    )
    return {"seconds": round(seconds, 3), "rows_per_second": rounded(rate, 1)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    with local_stack(NAME, with_functions=False) as stack, scratch_dir("worker-node") as node:
        settings = Settings.from_env(stack.values)
        db = cosmos_client(settings).get_database_client(settings.cosmos_database)
        containers = {v: fresh_container(db, f"records-{v}") for v in VARIANTS}
        data = csv_bytes(args.rows)
        blob = f"bench/records-{args.rows}.csv"
        blobs = BlobServiceClient.from_connection_string(settings.storage_connection_string)
        props = blobs.get_blob_client(settings.container_incoming, blob).upload_blob(
            data, overwrite=True
        )
        etag = normalize_etag(str(props["etag"]))
        key = file_key(settings.storage_account, settings.container_incoming, blob, etag)
        env = worker_environment(stack, settings, blob, etag, key, node, "records-worker")
        local_copy = node / "input.csv"
        local_copy.write_bytes(data)
        progress("input_ready", rows=args.rows, bytes=len(data))

        from worker.settings import WriteOptions

        threads = int(env.get("DROPBATCH_WORKER_COSMOS_CONCURRENCY") or WriteOptions().concurrency)
        docs = worker_documents(env, local_copy)

        figures: dict[str, Any] = {}
        exit_code = -1

        def worker_run() -> float:
            nonlocal exit_code
            exit_code, seconds = run_worker(env)
            return seconds

        for variant in args.order:
            if variant == "worker":
                figures["worker"] = timed_variant("worker", args.rows, worker_run)
            elif variant == "ceiling":
                figures["ceiling"] = timed_variant(
                    "ceiling", args.rows, lambda: run_ceiling(containers["ceiling"], docs, threads)
                )
            else:
                figures["baseline"] = timed_variant(
                    "baseline", args.rows, lambda: run_baseline(containers["baseline"], data, key)
                )

        log_blob = blobs.get_blob_client(settings.container_logs, f"{blob}/{key}/worker-log.json")
        task_log = json.loads(log_blob.download_blob().readall())
        written = {v: count(c) for v, c in containers.items()}

    w = figures["worker"]["rows_per_second"] or 0.0
    b = figures["baseline"]["rows_per_second"] or 0.0
    c = figures["ceiling"]["rows_per_second"] or 0.0
    measurements = {
        "rows": args.rows,
        "input_bytes": len(data),
        **figures,
        "worker_vs_baseline": rounded(w / b if b else None, 2),
        "worker_vs_ceiling": rounded(w / c if c else None, 2),
        "worker_exit_code": exit_code,
        "worker_phase_seconds": task_log.get("timings_seconds"),
        "worker_cosmos": (task_log.get("counts") or {}).get("cosmos"),
        "cosmos_threads": threads,
        "documents_written": written,
        "mean_document_bytes": {
            "worker_and_ceiling": round(sum(len(json.dumps(d)) for d in docs) / max(len(docs), 1)),
            "baseline": round(
                len(json.dumps({"id": str(uuid.uuid4()), "pk": key, **_first_row(data)}))
            ),
        },
    }
    params = {"rows": args.rows, "order": list(args.order)}
    return result(NAME, params, measurements, started)


def _first_row(data: bytes) -> dict[str, str]:
    return next(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker_csv", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=20000, help="data rows in the CSV file")
    parser.add_argument(
        "--order",
        type=lambda s: tuple(s.split(",")),
        default=("ceiling", "worker", "baseline"),
        help="comma-separated order of the variants (default ceiling,worker,baseline)",
    )
    args = parser.parse_args(argv)
    if sorted(args.order) != sorted(VARIANTS):
        parser.error(f"--order must name each of {', '.join(VARIANTS)} once")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

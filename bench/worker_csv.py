"""Benchmark `worker_csv`: rows per second of the worker's CSV -> Cosmos DB path, against two
references on the same Cosmos server in the same run:

- worker:   the worker's own entry point (`worker.__main__.main`) on one CSV blob, with the
            environment a Batch task gets: download, check pass, the write pass
            (transactional batches, several in flight, and writer processes for big files,
            as the worker decides), clean-up query, summary and task log;
- ceiling:  the worker's exact documents (read back from its container, so not built by
            this code) upserted in transactional batches of 100 per partition key value
            with the same processes x threads in flight and nothing else: no parsing, no
            checks;
- baseline: the classic sample's way: `csv.DictReader` and one `container.create_item` per
            row, in a sequential loop.

Each run writes to its own, empty container, after a warm-up run of the worker on a file as
big as the measured one (see `warm_up`), and each starts after a full garbage collection, so
none pays for another's garbage. Worker and ceiling run `--rounds` times (default 4), in the
order worker, ceiling; ceiling, worker; ceiling, worker; worker, ceiling (see `round_order`:
each worker round on its own copy of the file, each ceiling with the documents of the
latest worker round), so neither always goes first and a drift over the run falls on both
alike; a variant's figures are those of its median round, with every round's seconds beside
them. The baseline runs once, last. Ratios are of rows per
second: worker / baseline and worker / ceiling (and the latter per round). CPU per row is
reported for this process (with its child processes) and for the Cosmos server, which
shows which side bounds the rate.

    python -m bench.worker_csv --rows 10000
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from azure.cosmos import ContainerProxy, DatabaseProxy, PartitionKey

from batch_core.blobstore import blob_service
from batch_core.cosmosdb import cosmos_client
from batch_core.keys import file_key, normalize_etag
from batch_core.settings import Settings
from bench import ceiling
from bench.data import csv_bytes
from bench.harness import local_stack, progress, result, rounded, run_main, scratch_dir
from devstack.stack import NODE_CREDENTIALS, Stack

NAME = "worker_csv"


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
    found: list[object] = list(
        container.query_items("SELECT VALUE COUNT(1) FROM c", enable_cross_partition_query=True)
    )
    # SELECT VALUE yields bare numbers, though the SDK types every item as a dict.
    return sum(int(str(n)) for n in found)


def warm_up(stack: Stack, settings: Settings, node: Path, rows: int) -> float:
    """A file of `rows` rows through the worker into a container of its own before anything
    is timed, so that the Cosmos server's batch handler and the client's code paths are warm
    for every variant; its seconds. Whichever variant writes first pays for warming the
    server (measured: some 40% more server CPU a row, whether the worker or the ceiling goes
    first) unless the warm-up writes as much."""
    start = time.perf_counter()
    db = cosmos_client(settings).get_database_client(settings.cosmos_database)
    fresh_container(db, "records-warm-up")
    blob = f"bench/warm-up-{rows}.csv"
    props = (
        blob_service(settings)
        .get_blob_client(settings.container_incoming, blob)
        .upload_blob(csv_bytes(rows), overwrite=True)
    )
    etag = normalize_etag(str(props["etag"]))
    key = file_key(settings.storage_account, settings.container_incoming, blob, etag)
    env = worker_environment(stack, settings, blob, etag, key, node, "records-warm-up")
    code, _ = run_worker(env)
    if code != 0:
        raise RuntimeError(f"the warm-up run of the worker exited {code}")
    return time.perf_counter() - start


def run_worker(env: dict[str, str]) -> tuple[int, float]:
    from worker.__main__ import main as worker_main

    start = time.perf_counter()
    code = worker_main(env)
    return code, time.perf_counter() - start


def written_documents(container: ContainerProxy) -> list[dict[str, Any]]:
    """The documents as the worker wrote them, without the server's system properties."""
    docs = container.query_items("SELECT * FROM c", enable_cross_partition_query=True)
    return [{k: v for k, v in d.items() if not k.startswith("_")} for d in docs]


def run_baseline(container: ContainerProxy, data: bytes, pk: str) -> float:
    """The classic sample: read rows with DictReader, create one document per row, in order."""
    start = time.perf_counter()
    for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        container.create_item(body={"id": str(uuid.uuid4()), "pk": pk, **row})
    return time.perf_counter() - start


def fresh_container(db: DatabaseProxy, name: str) -> ContainerProxy:
    return db.create_container_if_not_exists(name, PartitionKey("/pk"))


def cpu_seconds(proc: psutil.Process) -> float:
    """CPU of a process and of its children that have ended (the writer processes)."""
    t = proc.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def timed_variant(
    name: str, rows: int, run: Callable[[], float], server: psutil.Process
) -> dict[str, Any]:
    """Run one variant; with the CPU this process and the Cosmos server spent per row, which
    says which side bounds the rate."""
    progress("variant_started", variant=name, rows=rows)
    gc.collect()  # the garbage of what ran before is not this variant's to collect
    me = psutil.Process()
    client_before, server_before = cpu_seconds(me), cpu_seconds(server)
    seconds = run()
    client_cpu, server_cpu = cpu_seconds(me) - client_before, cpu_seconds(server) - server_before
    rate = rows / seconds if seconds > 0 else None
    progress(
        "variant_finished",
        variant=name,
        seconds=round(seconds, 2),
        rows_per_second=rounded(rate, 1),
    )
    return {
        "seconds": round(seconds, 3),
        "rows_per_second": rounded(rate, 1),
        "client_cpu_ms_per_row": round(1000 * client_cpu / rows, 3),
        "cosmos_server_cpu_ms_per_row": round(1000 * server_cpu / rows, 3),
    }


@dataclass
class _Round:
    """One round: the worker on its own copy of the file, and the ceiling, in that order or
    the other (see `round_order`)."""

    number: int
    order: tuple[str, str]
    figures: dict[str, dict[str, Any]]
    task_log: dict[str, Any]
    exit_code: int


def round_order(number: int) -> tuple[str, str]:
    """Worker and ceiling in the order A B, B A, B A, A B, and again: whichever of a pair
    runs first is slower (by up to 0.1 s of 0.45 s at 10,000 rows, for either), and a drift
    over the run (the server's heap grows with every document) falls on both alike; four
    rounds balance both."""
    return ("worker", "ceiling") if number % 4 in (0, 1) else ("ceiling", "worker")


def median_round(rounds: list[_Round], variant: str) -> _Round:
    """The variant's median round by seconds (of an even count, the faster of the middle
    two)."""
    ranked = sorted(rounds, key=lambda r: r.figures[variant]["seconds"])
    return ranked[(len(ranked) - 1) // 2]


def median_of(rounds: list[_Round], variant: str) -> dict[str, Any]:
    """The variant's figures of its median round, with every round's seconds."""
    middle = median_round(rounds, variant).figures[variant]
    return middle | {"seconds_per_round": [r.figures[variant]["seconds"] for r in rounds]}


@dataclass
class _Rounds:
    """What every round shares, and the last worker round's documents and fan-out, which
    the next ceiling writes."""

    stack: Stack
    settings: Settings
    db: DatabaseProxy
    data: bytes
    server: psutil.Process
    node: Path
    rows: int
    docs: list[dict[str, Any]] = field(default_factory=list)
    processes: int = 1
    concurrency: int = 0
    first_key: str = ""

    def run(self, number: int) -> _Round:
        settings, blobs = self.settings, blob_service(self.settings)
        blob = f"bench/records-{self.rows}-round{number}.csv"
        props = blobs.get_blob_client(settings.container_incoming, blob).upload_blob(
            self.data, overwrite=True
        )
        etag = normalize_etag(str(props["etag"]))
        key = file_key(settings.storage_account, settings.container_incoming, blob, etag)
        self.first_key = self.first_key or key
        records = f"records-worker-{number}"
        env = worker_environment(
            self.stack, settings, blob, etag, key, self.node / f"round{number}", records
        )
        from worker.settings import WorkerSettings

        self.concurrency = WorkerSettings.from_environ(env).writes.concurrency
        worker_box = fresh_container(self.db, records)
        ceiling_box = fresh_container(self.db, f"records-ceiling-{number}")
        order = round_order(number)
        figures: dict[str, dict[str, Any]] = {}
        exit_code, task_log = -1, {}
        for variant in order:
            if variant == "worker":
                exit_code, figures["worker"] = self._timed_worker(env)
                log_blob = blobs.get_blob_client(
                    settings.container_logs, f"{blob}/{key}/worker-log.json"
                )
                task_log = json.loads(log_blob.download_blob().readall())
                # The ceiling gets the same fan-out the worker chose for this file.
                self.processes = int((task_log.get("counts") or {}).get("writer_processes") or 1)
                self.docs = written_documents(worker_box)
            else:
                figures["ceiling"] = self._timed_ceiling(ceiling_box.id)
        return _Round(number, order, figures, task_log, exit_code)

    def _timed_worker(self, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
        codes: list[int] = []

        def run() -> float:
            code, seconds = run_worker(env)
            codes.append(code)
            return seconds

        figures = timed_variant("worker", self.rows, run, self.server)
        return codes[0], figures

    def _timed_ceiling(self, container_name: str) -> dict[str, Any]:
        if not self.docs:
            raise RuntimeError("the ceiling ran before any worker round")
        docs, processes, threads = self.docs, self.processes, self.concurrency
        values, node = self.stack.values, self.node
        return timed_variant(
            "ceiling",
            self.rows,
            lambda: ceiling.run(values, container_name, docs, processes, threads, node),
            self.server,
        )


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    with (
        local_stack(NAME, with_functions=False, cosmos_latency_ms=args.latency_ms) as stack,
        scratch_dir("worker-node") as node,
    ):
        settings = Settings.from_env(stack.values)
        db = cosmos_client(settings).get_database_client(settings.cosmos_database)
        data = csv_bytes(args.rows)
        progress("input_ready", rows=args.rows, bytes=len(data))
        assert stack.cosmos is not None
        server = psutil.Process(stack.cosmos.process.pid)
        warm_up_seconds = warm_up(stack, settings, node / "warm-up", args.rows)
        progress("warmed_up", seconds=round(warm_up_seconds, 2), rows=args.rows)
        state = _Rounds(stack, settings, db, data, server, node, args.rows)
        rounds = [state.run(number) for number in range(1, args.rounds + 1)]
        docs, processes, concurrency = state.docs, state.processes, state.concurrency
        first_key = state.first_key
        baseline_box = fresh_container(db, "records-baseline")
        figures_baseline = timed_variant(
            "baseline", args.rows, lambda: run_baseline(baseline_box, data, first_key), server
        )
        written = {
            variant: [
                count(db.get_container_client(f"records-{variant}-{r.number}")) for r in rounds
            ]
            for variant in ("worker", "ceiling")
        } | {"baseline": [count(baseline_box)]}

    worker, ceil = median_of(rounds, "worker"), median_of(rounds, "ceiling")
    middle = median_round(rounds, "worker")
    w = worker["rows_per_second"] or 0.0
    b = figures_baseline["rows_per_second"] or 0.0
    c = ceil["rows_per_second"] or 0.0
    measurements = {
        "rows": args.rows,
        "input_bytes": len(data),
        "rounds": args.rounds,
        "worker": worker,
        "ceiling": ceil,
        "baseline": figures_baseline,
        "worker_vs_baseline": rounded(w / b if b else None, 2),
        "worker_vs_ceiling": rounded(w / c if c else None, 2),
        "worker_vs_ceiling_per_round": [
            rounded(r.figures["ceiling"]["seconds"] / r.figures["worker"]["seconds"], 2)
            for r in rounds
        ],
        "worker_exit_codes": [r.exit_code for r in rounds],
        "warm_up": {"rows": args.rows, "seconds": round(warm_up_seconds, 3)},
        # Of the worker's median round.
        "worker_phase_seconds": middle.task_log.get("timings_seconds"),
        "worker_cosmos": (middle.task_log.get("counts") or {}).get("cosmos"),
        "writers": {
            "processes": processes,
            "threads_per_process": concurrency,
            "ceiling_batches": len(ceiling.batched(docs)),
        },
        "documents_written": written,
        "mean_document_bytes": {
            "worker_and_ceiling": round(sum(len(json.dumps(d)) for d in docs) / max(len(docs), 1)),
            "baseline": round(
                len(json.dumps({"id": str(uuid.uuid4()), "pk": first_key, **_first_row(data)}))
            ),
        },
    }
    params = {
        "rows": args.rows,
        "cosmos_latency_ms": args.latency_ms,
        "rounds": args.rounds,
        "order": [list(r.order) for r in rounds] + [["baseline"]],
    }
    return result(NAME, params, measurements, started)


def _first_row(data: bytes) -> dict[str, str]:
    return next(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker_csv", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=10000, help="data rows in the CSV file")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="worker and ceiling runs, in the order A B, B A, B A, A B, each worker on its own"
        " copy of the file; the figures are the median round's (a multiple of 4 balances the"
        " order)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="hold every Cosmos response this long, as a network round trip to a real "
        "account would (0: the local server answers at once)",
    )
    args = parser.parse_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

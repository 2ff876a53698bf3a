"""Benchmark `worker_startup`: CPU seconds of `python -m worker` on a small file, per route.

A 20-row CSV costs the worker little work, so its CPU is mostly the interpreter starting and
importing the Azure SDKs; each route should import only what it uses. For each route
(`csv` on a 20-row CSV, `zip` on an archive holding that CSV) the worker runs `--repeat`
times as a subprocess with a Batch task's environment against the local stack (Azurite and
the Cosmos server); its CPU (user + system, from wait4, writer processes included) and wall
seconds are reported as the median, with one further run under `python -X importtime` that
counts the modules imported, their total import time, and whether `azure.cosmos` was among
them.

    python -m bench.worker_startup --rows 20 --repeat 5
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient

from batch_core.cosmosdb import RECORDS
from batch_core.keys import file_key, normalize_etag
from batch_core.settings import Settings
from bench.data import csv_bytes
from bench.harness import local_stack, progress, result, rounded, run_main, scratch_dir
from bench.worker_csv import worker_environment

NAME = "worker_startup"
ROOT = Path(__file__).resolve().parent.parent
ROUTES = ("csv", "zip")


def zip_of_csv(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("startup.csv", data)
    return buffer.getvalue()


def run_once(env: dict[str, str], python_flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """One `python -m worker`; its exit code, CPU and wall seconds, and its stderr."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *python_flags, "-m", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit_code": proc.returncode,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "wall_seconds": time.perf_counter() - started,
        "stderr": stderr.decode(errors="replace"),
    }


def import_profile(stderr: str) -> dict[str, Any]:
    """Modules and total import time from `-X importtime` lines
    (`import time: self [us] | cumulative | imported package`)."""
    modules: list[str] = []
    self_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        own, _, name = line[len("import time:") :].split("|")
        self_us += int(own)
        modules.append(name.strip())
    return {
        "modules": len(modules),
        "import_seconds": round(self_us / 1e6, 3),
        "azure_cosmos_imported": "azure.cosmos" in modules,
        "azure_storage_blob_imported": "azure.storage.blob" in modules,
    }


def measure_route(env: dict[str, str], repeat: int) -> dict[str, Any]:
    runs = [run_once(env) for _ in range(repeat)]
    failed = [r for r in runs if r["exit_code"] != 0]
    if failed:
        raise RuntimeError(f"worker exited {failed[0]['exit_code']}: {failed[0]['stderr'][-2000:]}")
    profiled = run_once(env, ("-X", "importtime"))
    return {
        "cpu_seconds_median": rounded(statistics.median(r["cpu_seconds"] for r in runs), 3),
        "cpu_seconds_min": rounded(min(r["cpu_seconds"] for r in runs), 3),
        "wall_seconds_median": rounded(statistics.median(r["wall_seconds"] for r in runs), 3),
        "runs": repeat,
        **import_profile(profiled["stderr"]),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    figures: dict[str, Any] = {}
    data = csv_bytes(args.rows)
    inputs = {"csv": data, "zip": zip_of_csv(data)}
    with local_stack(NAME, with_functions=False) as stack, scratch_dir("worker-node") as node:
        settings = Settings.from_env(stack.values)
        assert settings.storage_connection_string is not None  # the local stack has one
        blobs = BlobServiceClient.from_connection_string(settings.storage_connection_string)
        for route in ROUTES:
            blob = f"bench/startup-{args.rows}.{route}"
            props = blobs.get_blob_client(settings.container_incoming, blob).upload_blob(
                inputs[route], overwrite=True
            )
            etag = normalize_etag(str(props["etag"]))
            key = file_key(settings.storage_account, settings.container_incoming, blob, etag)
            env = worker_environment(stack, settings, blob, etag, key, node / route, RECORDS)
            env = {**env, "DROPBATCH_ROUTE": route, "PATH": os.environ.get("PATH", "")}
            progress("route_started", route=route, repeat=args.repeat)
            figures[route] = measure_route(env, args.repeat)
            progress("route_finished", route=route, **figures[route])
        blobs.close()
    params = {"rows": args.rows, "repeat": args.repeat}
    return result(NAME, params, figures, started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.worker_startup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=20, help="data rows in the CSV file")
    parser.add_argument("--repeat", type=int, default=5, help="runs per route (median reported)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

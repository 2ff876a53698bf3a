"""What every benchmark shares: the local stack for one run, the Batch service's request
counters, progress lines on stderr, the machine description and the JSON result on stdout."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from devstack.stack import Stack

PACKAGES = ("azure-batch", "azure-cosmos", "azure-storage-blob", "azure-functions", "azure-core")
_STARTED = time.monotonic()
# The machine's load when this process started: figures from a busy machine read differently.
_LOAD_AT_START = os.getloadavg()


# output ---------------------------------------------------------------------------------------


def progress(event: str, **fields: Any) -> None:
    """One JSON line on stderr: what the benchmark is doing, with seconds since it started."""
    line = {"t": round(time.monotonic() - _STARTED, 2), "event": event, **fields}
    sys.stderr.write(json.dumps(line, default=str) + "\n")
    sys.stderr.flush()


def emit(result: dict[str, Any]) -> None:
    """The one JSON object a benchmark prints on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def machine() -> dict[str, Any]:
    """Where the figures were measured: they mean little without it."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "packages": packages,
    }


def result(
    name: str, parameters: dict[str, Any], measurements: dict[str, Any], started: float
) -> dict[str, Any]:
    return {
        "benchmark": name,
        "parameters": parameters,
        "machine": machine(),
        # The 1, 5 and 15-minute load averages when the benchmark's process started.
        "load_at_start": [round(x, 2) for x in _LOAD_AT_START],
        "load_average_1_5_15_min": {
            "at_start": [round(x, 2) for x in _LOAD_AT_START],
            "at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "measurements": measurements,
        "wall_seconds": round(time.monotonic() - started, 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# statistics -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# process set-up -------------------------------------------------------------------------------


def configure() -> None:
    """Quiet library logging (progress has its own lines) and turn SIGTERM into SystemExit so
    that `finally` blocks stop the servers a benchmark started."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
    for noisy in ("azure", "batch_core", "worker", "devstack", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Concurrent uploads outgrow urllib3's default pool of 10; the warning is harmless.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # The Batch SDK logs a traceback for every bodiless 404 (HEAD pool-exists); not news.
    logging.getLogger("azure.batch._utils.model_base").setLevel(logging.ERROR)

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)


def run_main(name: str, body: Callable[[], dict[str, Any]]) -> int:
    """Run one benchmark body: progress on stderr, its result on stdout, 1 on failure."""
    configure()
    progress("benchmark_started", benchmark=name)
    try:
        emit(body())
    except KeyboardInterrupt:
        progress("benchmark_interrupted", benchmark=name)
        return 130
    progress("benchmark_finished", benchmark=name)
    return 0


# the local stack ------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_dir(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A temporary folder removed afterwards (BENCH_KEEP=1 keeps it, for looking at logs)."""
    path = Path(tempfile.mkdtemp(prefix=f"dropbatch-bench-{prefix}-", dir=parent))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP") == "1":
            progress("kept_scratch_dir", path=str(path))
        else:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def local_stack(
    name: str,
    with_functions: bool,
    overrides: dict[str, str] | None = None,
    cosmos_latency_ms: int = 0,
    tag_callers: bool = False,
) -> Iterator[Stack]:
    """Azurite, the Cosmos server and the Batch service (and the Functions host if asked) on
    free ports with their state in a temporary folder; everything is stopped afterwards,
    including task processes the Batch service may have left behind. `tag_callers`: the
    app's requests carry its caller tag in their User-Agent (see `bench.cosmosstats`)."""
    with scratch_dir(name) as state:
        started = time.monotonic()
        stack = Stack(state, cosmos_latency_ms=cosmos_latency_ms, tag_callers=tag_callers)
        try:
            stack.start(with_functions=with_functions, overrides=overrides or {})
            progress(
                "stack_started",
                seconds=round(time.monotonic() - started, 2),
                functions=with_functions,
                pids={p.name: p.pid for p in stack.processes()},
            )
            yield stack
        finally:
            leftovers = _descendants(stack)
            stack.stop()
            _kill_survivors(leftovers)
            progress("stack_stopped")


def _descendants(stack: Stack) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for proc in stack.processes():
        if proc.proc is None:
            continue
        with contextlib.suppress(psutil.Error):
            found.extend(psutil.Process(proc.pid).children(recursive=True))
    return found


def _kill_survivors(processes: list[psutil.Process]) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if proc.is_running():
                progress("killing_leftover_process", pid=proc.pid)
                proc.kill()


# the Batch service's request counters -----------------------------------------------------------


@dataclass(frozen=True)
class BatchStats:
    """The local Batch service's admin endpoint: requests counted per operation."""

    url: str

    def snapshot(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_devstack/stats", timeout=30) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_devstack/stats/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass

    @classmethod
    def of(cls, stack: Stack) -> BatchStats:
        return cls(stack.values["DROPBATCH_BATCH_URL"])


def operations_minus(counted: dict[str, int], own: dict[str, int]) -> dict[str, int]:
    """The service's per-operation counts without the requests the benchmark itself made."""
    left = {op: n - own.get(op, 0) for op, n in counted.items()}
    return {op: n for op, n in sorted(left.items()) if n}

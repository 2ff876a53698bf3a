"""`python -m bench` (`make bench`): the benchmarks in order, each in its own process, each
on a quiet machine (`bench.quiet`: the previous one's processes gone, the load average low,
each wait bounded). Every result is written to bench/results/<benchmark>-<parameters>-<date>.json;
stdout gets one JSON object: every result, the waits, and the goals with whether each was met
(`bench.goals`). Progress goes to stderr.

The suite's sizes are chosen to finish in about 12 minutes on 2 cores (plus the waits); each
benchmark run alone keeps the issue's sizes (see bench/README.md). Shrink or grow them here:

    python -m bench --files 50 --rows 2000 --mb 100 --history 1000     (about 3 minutes)
    python -m bench --only worker_csv,worker_startup,unzip
    python -m bench --only submit --burst-files 0 --single-files 0     (two submit runs)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import goals, quiet
from bench.harness import configure, machine, progress

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("submit", "worker_csv", "unzip", "reconcile", "worker_startup", "fanout")
# Parameters that name a result file, and how ("10000rows"); others are left out of the name.
_NAMED = {"files": "files", "rows": "rows", "mb": "mb", "history": "history", "members": "members"}


def commands(args: argparse.Namespace) -> dict[str, list[list[str]]]:
    """Each benchmark's runs: the arguments of each."""
    return {
        "submit": submit_runs(args),
        "worker_csv": [
            ["--rows", str(args.rows), "--latency-ms", str(ms)] for ms in args.csv_latencies
        ],
        "unzip": [["--mb", str(args.mb), "--repeat", str(args.repeat)]],
        "reconcile": [["--history", str(args.history), "--ticks", str(args.ticks)]],
        "worker_startup": [[]],
        "fanout": [["--members", str(args.members)]],
    }


def submit_runs(args: argparse.Namespace) -> list[list[str]]:
    """The submitter alone (a pool of zero nodes): a burst, a smaller drop for its trigger
    latency, files one at a time; then the end-to-end run, tasks running, of `--files`. A
    size of 0 leaves that run out."""
    rows = ["--rows", str(args.file_rows)]
    alone = [
        ["--files", str(args.burst_files), "--nodes", "0", *rows],
        ["--files", str(args.latency_files), "--nodes", "0", *rows],
        ["--files", str(args.single_files), "--nodes", "0", "--one-at-a-time",
         "--spacing", str(args.spacing), *rows],
    ]  # fmt: skip
    runs = [*alone, ["--files", str(args.files), *rows]]
    return [r for r in runs if int(r[1]) > 0]


def run_child(argv: list[str]) -> tuple[int, str, set[tuple[int, float]]]:
    """Run one benchmark; stdout carries its JSON line, stderr (progress) passes through; the
    processes it started, as seen while it ran. If the suite is stopped, the child gets
    SIGTERM and time to stop the servers it started (subprocess.run would SIGKILL it and
    leave them running)."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    watch = quiet.ProcessWatch(proc.pid)
    try:
        out, _ = proc.communicate()
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        seen = watch.stop()
    return proc.returncode, out, seen


def parsed(out: str) -> dict[str, Any] | None:
    """The benchmark's JSON object: the last stdout line that is one."""
    for line in reversed(out.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def result_path(result: dict[str, Any], folder: Path = RESULTS) -> Path:
    """bench/results/<benchmark>-<parameters>-<date>.json, e.g. worker_csv-10000rows-latency5ms-
    2026-12-01.json."""
    params = result.get("parameters") or {}
    parts = [str(result.get("benchmark", "unknown"))]
    parts += [f"{params[key]}{unit}" for key, unit in _NAMED.items() if key in params]
    if params.get("cosmos_latency_ms"):
        parts.append(f"latency{params['cosmos_latency_ms']}ms")
    if params.get("one_at_a_time"):
        parts.append("one-at-a-time")
    if params.get("pool_nodes") == 0:
        parts.append("no-nodes")
    date = str(result.get("measured_at") or time.strftime("%Y-%m-%d", time.gmtime()))[:10]
    return folder / f"{'-'.join(parts)}-{date}.json"


def save(result: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Write one result as indented JSON; its path."""
    path = result_path(result, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--files", type=int, default=200, help="submit: files of the end-to-end run (tasks run)"
    )
    parser.add_argument(
        "--burst-files", type=int, default=1000, help="submit, no nodes: files of the burst"
    )
    parser.add_argument(
        "--latency-files",
        type=int,
        default=200,
        help="submit, no nodes: files dropped at once for the trigger latency",
    )
    parser.add_argument(
        "--single-files", type=int, default=30, help="submit, no nodes: files one at a time"
    )
    parser.add_argument(
        "--spacing", type=float, default=2.0, help="submit: seconds between single files"
    )
    parser.add_argument("--file-rows", type=int, default=20, help="submit: rows per file")
    parser.add_argument("--rows", type=int, default=10000, help="worker_csv: rows in the CSV")
    parser.add_argument(
        "--csv-latencies",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=(0, 5),
        help="worker_csv: one run per added Cosmos latency in ms (default 0,5)",
    )
    parser.add_argument("--mb", type=int, default=1000, help="unzip: uncompressed MB")
    parser.add_argument("--repeat", type=int, default=2, help="unzip: rounds (best reported)")
    parser.add_argument("--history", type=int, default=10000, help="reconcile: historical files")
    parser.add_argument("--ticks", type=int, default=3, help="reconcile: ticks per scenario")
    parser.add_argument("--members", type=int, default=1000, help="fanout: members of the sweep")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=quiet.MAX_WAIT_SECONDS,
        help="most seconds to wait for a quiet machine before each benchmark (0: no wait)",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not write the results under bench/results"
    )
    parser.add_argument(
        "--only",
        type=lambda s: tuple(s.split(",")),
        default=ORDER,
        help=f"comma-separated subset of {','.join(ORDER)}",
    )
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(ORDER)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure()
    started = time.monotonic()
    failed: list[str] = []
    results: list[dict[str, Any]] = []
    leftovers: set[tuple[int, float]] = set()
    for name in (n for n in ORDER if n in args.only):
        for extra in commands(args)[name]:
            waited = quiet.wait_quiet(leftovers, max_wait=args.quiet_wait)
            progress("suite_quiet", benchmark=name, **waited)
            argv_child = [sys.executable, "-m", f"bench.{name}", *extra]
            progress("suite_running", benchmark=name, argv=argv_child[1:])
            code, out, leftovers = run_child(argv_child)
            found = parsed(out)
            if code != 0 or found is None:
                failed.append(name)
                progress("suite_benchmark_failed", benchmark=name, exit_code=code)
                continue
            found["quiet_wait"] = waited
            if not args.no_save:
                found["saved_as"] = str(save(found).relative_to(ROOT))
            results.append(found)
    summary: dict[str, Any] = {
        "suite": {
            "argv": sys.argv[1:] if argv is None else argv,
            "seconds": round(time.monotonic() - started, 1),
            "failed": failed,
            "machine": machine(),
        },
        "goals": goals.evaluate(results),
        "results": results,
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    sys.stdout.flush()
    progress("suite_finished", seconds=summary["suite"]["seconds"], failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

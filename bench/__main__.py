"""`python -m bench` (`make bench`): the benchmarks in order, each in its own process,
each printing its JSON object on stdout as one line; progress goes to stderr.

The suite's sizes are chosen to finish in about 12 minutes on 2 cores; each benchmark run
alone keeps the issue's sizes (see bench/README.md). Shrink or grow them here:

    python -m bench --files 50 --rows 2000 --mb 100 --history 1000     (about 3 minutes)
    python -m bench --only submit,unzip
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import configure, progress

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("submit", "worker_csv", "unzip", "reconcile", "worker_startup", "fanout")


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    return {
        "submit": ["--files", str(args.files), "--rows", str(args.file_rows)],
        "worker_csv": ["--rows", str(args.rows)],
        "unzip": ["--mb", str(args.mb), "--repeat", str(args.repeat)],
        "reconcile": ["--history", str(args.history), "--ticks", str(args.ticks)],
        "worker_startup": [],
        "fanout": ["--members", str(args.members)],
    }


def run_child(argv: list[str]) -> tuple[int, str]:
    """Run one benchmark; stdout carries its JSON line, stderr (progress) passes through.
    If the suite is stopped, the child gets SIGTERM and time to stop the servers it started
    (subprocess.run would SIGKILL it and leave them running)."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate()
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    return proc.returncode, out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200, help="submit: files dropped at once")
    parser.add_argument("--file-rows", type=int, default=20, help="submit: rows per file")
    parser.add_argument("--rows", type=int, default=10000, help="worker_csv: rows in the CSV")
    parser.add_argument("--mb", type=int, default=1000, help="unzip: uncompressed MB")
    parser.add_argument("--repeat", type=int, default=2, help="unzip: rounds (best reported)")
    parser.add_argument("--history", type=int, default=10000, help="reconcile: historical files")
    parser.add_argument("--ticks", type=int, default=3, help="reconcile: ticks per scenario")
    parser.add_argument("--members", type=int, default=1000, help="fanout: members of the sweep")
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
    for name in ORDER:
        if name not in args.only:
            continue
        argv_child = [sys.executable, "-m", f"bench.{name}", *commands(args)[name]]
        progress("suite_running", benchmark=name, argv=argv_child[1:])
        code, out = run_child(argv_child)
        if out:
            sys.stdout.write(out if out.endswith("\n") else out + "\n")
            sys.stdout.flush()
        if code != 0:
            failed.append(name)
            progress("suite_benchmark_failed", benchmark=name, exit_code=code)
    progress("suite_finished", seconds=round(time.monotonic() - started, 1), failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

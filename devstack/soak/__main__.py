"""`python -m devstack.soak`: one JSON object on stdout (also written to
bench/results/soak-<files>files-<date>.json), progress JSON lines on stderr, exit 1 when a
file was lost, duplicated or wrong."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.harness import configure, emit, progress, result
from devstack.servers import ROOT
from devstack.soak.plan import Mix
from devstack.soak.run import NAME, Options, soak

RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.soak",
        description="Drop files in waves onto a local stack; report lost, duplicated, wrong, "
        "latency and memory.",
    )
    parser.add_argument("--files", type=int, default=1000, help="files dropped in all")
    parser.add_argument("--wave", type=int, default=500, help="files per wave")
    parser.add_argument(
        "--interval", type=float, default=150.0, help="seconds from one wave's start to the next"
    )
    parser.add_argument("--csv-share", type=float, default=Mix.csv, help="share of CSV files")
    parser.add_argument(
        "--unrouted-share", type=float, default=Mix.unrouted, help="share of unrouted files"
    )
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--poll", type=float, default=3.0, help="seconds between ledger reads")
    parser.add_argument(
        "--timeout", type=float, default=7200.0, help="give up this long after the last wave"
    )
    parser.add_argument("--upload-concurrency", type=int, default=16)
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the JSON (default: bench/results)"
    )
    args = parser.parse_args(argv)
    if args.files < 1 or args.wave < 1 or args.interval < 0:
        parser.error("--files and --wave must be at least 1, --interval at least 0")
    try:
        mix = Mix(csv=args.csv_share, unrouted=args.unrouted_share)
    except ValueError as e:
        parser.error(str(e))
    opts = Options(
        files=args.files,
        wave=args.wave,
        interval=args.interval,
        mix=mix,
        sample_seconds=args.sample,
        poll_seconds=args.poll,
        timeout=args.timeout,
        upload_concurrency=args.upload_concurrency,
        out=args.out,
    )
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    configure()
    started = time.monotonic()
    progress("soak_started", files=opts.files, wave=opts.wave, interval=opts.interval)
    try:
        params, measurements, ok = soak(opts)
    except KeyboardInterrupt:
        progress("soak_interrupted")
        return 130
    report = result(NAME, params, measurements, started)
    report["ok"] = ok
    out = opts.out or RESULTS / f"soak-{opts.files}files-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    emit(report)
    progress("soak_finished", ok=ok, written=str(out))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

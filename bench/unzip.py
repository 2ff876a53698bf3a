"""Benchmark `unzip`: throughput and peak memory of the worker's archive extraction against
`zipfile.ZipFile.extractall`, on the same generated archive, in the same run.

- worker:     `worker.archive.Archive` under the worker's default limits: inspect, the
              `verify` pass (every CSV entry decompressed once under the caps), then each
              entry streamed out through its capped reader. The worker streams entries to
              Blob storage; here they go to local files, like extractall's, so both
              measure the same work and the storage emulator is left out.
- extractall: `zipfile.ZipFile(path).extractall(folder)`.

Each runs in its own child process, so peak RSS (getrusage ru_maxrss) is its own; the RSS
before the work starts is reported too (the worker's imports weigh more). MB = 10^6 bytes of
uncompressed data.

    python -m bench.unzip --mb 1024 --entries 8
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.data import MiB, write_zip
from bench.harness import progress, result, rounded, run_main, scratch_dir

NAME = "unzip"
KINDS = ("worker", "extractall")
_COPY_BLOCK = 1 * MiB


def _rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_worker(archive_path: Path, out: Path) -> dict[str, Any]:
    from worker.archive import Archive
    from worker.settings import ZipLimits

    rss_before = _rss_mib()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    written = 0
    with Archive(archive_path, ZipLimits()) as archive:
        archive.verify()
        verified = time.perf_counter()
        for info in archive.plan.csv:
            dest = out / info.orig_filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as reader, open(dest, "wb") as sink:
                while block := reader.read(_COPY_BLOCK):
                    sink.write(block)
                    written += len(block)
    end = time.perf_counter()
    return {
        "seconds": end - start,
        "verify_seconds": verified - start,
        "extract_seconds": end - verified,
        "bytes_written": written,
        "rss_before_mib": rss_before,
        "peak_rss_mib": _rss_mib(),
        "cpu_seconds": _cpu_seconds() - cpu_before,
    }


def child_extractall(archive_path: Path, out: Path) -> dict[str, Any]:
    rss_before = _rss_mib()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(out)
    end = time.perf_counter()
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "seconds": end - start,
        "bytes_written": written,
        "rss_before_mib": rss_before,
        "peak_rss_mib": _rss_mib(),
        "cpu_seconds": _cpu_seconds() - cpu_before,
    }


def run_child(kind: str, archive_path: Path, out: Path) -> dict[str, Any]:
    """One extraction in a fresh interpreter; its JSON report comes back on stdout."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    argv = [sys.executable, "-m", "bench.unzip", "--child", kind, "--archive", str(archive_path), "--out", str(out)]
    done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
    report: dict[str, Any] = json.loads(done.stdout)
    shutil.rmtree(out, ignore_errors=True)
    return report


def figures(report: dict[str, Any], uncompressed: int) -> dict[str, Any]:
    seconds = float(report["seconds"])
    shaped = {k: rounded(v, 3) if isinstance(v, float) else v for k, v in report.items()}
    shaped["mb_per_second"] = rounded(uncompressed / seconds / 1e6 if seconds else None, 1)
    for key in ("rss_before_mib", "peak_rss_mib"):
        shaped[key] = rounded(report[key], 1)
    return shaped


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    with scratch_dir(NAME) as tmp:
        archive_path = tmp / "archive.zip"
        progress("generating_archive", mb=args.mb, entries=args.entries)
        t = time.perf_counter()
        uncompressed, compressed = write_zip(archive_path, args.mb * 10**6, args.entries)
        generated = time.perf_counter() - t
        progress("archive_ready", uncompressed=uncompressed, compressed=compressed, seconds=round(generated, 1))
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
        for round_no in range(args.repeat):
            for kind in args.order:
                progress("extraction_started", kind=kind, round=round_no + 1)
                report = run_child(kind, archive_path, tmp / f"out-{kind}")
                if report["bytes_written"] != uncompressed:
                    raise RuntimeError(f"{kind} wrote {report['bytes_written']} of {uncompressed} bytes")
                runs[kind].append(figures(report, uncompressed))
                progress("extraction_finished", kind=kind, seconds=round(report["seconds"], 2), peak_rss_mib=round(report["peak_rss_mib"], 1))
    best = {kind: min(reports, key=lambda r: float(r["seconds"])) for kind, reports in runs.items()}
    w, e = best["worker"], best["extractall"]
    measurements = {
        "archive": {
            "uncompressed_bytes": uncompressed,
            "compressed_bytes": compressed,
            "entries": args.entries,
            "compression": "deflate level 1",
            "generate_seconds": round(generated, 1),
        },
        "worker": w,
        "extractall": e,
        "worker_vs_extractall_speed": rounded(
            (w["mb_per_second"] or 0) / e["mb_per_second"] if e["mb_per_second"] else None, 2
        ),
        "worker_peak_rss_minus_extractall_mib": rounded(w["peak_rss_mib"] - e["peak_rss_mib"], 1),
        "all_rounds": runs if args.repeat > 1 else None,
    }
    params = {"mb": args.mb, "entries": args.entries, "repeat": args.repeat, "order": list(args.order)}
    return result(NAME, params, measurements, started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.unzip", description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=1000, help="uncompressed size in MB (10^6 bytes)")
    parser.add_argument("--entries", type=int, default=8, help="CSV entries in the archive")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; the fastest of each is reported")
    parser.add_argument(
        "--order",
        type=lambda s: tuple(s.split(",")),
        default=("extractall", "worker"),
        help="comma-separated order within a round (default extractall,worker)",
    )
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--archive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None and sorted(args.order) != sorted(KINDS):
        parser.error(f"--order must name each of {', '.join(KINDS)} once")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run = child_worker if args.child == "worker" else child_extractall
        sys.stdout.write(json.dumps(run(args.archive, args.out)) + "\n")
        return 0
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark `unzip`: throughput and peak memory of the worker's archive extraction against
`zipfile.ZipFile.extractall`, on the same generated archive, in the same run.

- worker:     `worker.archive.Archive` under the worker's default limits: inspect, then
              `extract`, one pass that decompresses every CSV entry once under the caps
              and hands each 4 MiB block on as it is read. The worker stages those blocks
              in Blob storage (committed once the whole archive passed); here they go to
              local files, like extractall's, so both measure the same work and the
              storage emulator is left out.
- extractall: `zipfile.ZipFile(path).extractall(folder)`.

Each runs in its own child process (bench.extraction), so peak RSS (VmHWM) is its own; the
RSS before the work starts is reported too (the worker's imports weigh more). MB = 10^6 bytes of
uncompressed data.

    python -m bench.unzip --mb 1024 --entries 8
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.data import write_zip
from bench.extraction import KINDS
from bench.harness import progress, result, rounded, run_main, scratch_dir

NAME = "unzip"
ROOT = Path(__file__).resolve().parent.parent


def run_child(kind: str, archive_path: Path, out: Path) -> dict[str, Any]:
    """One extraction in a fresh interpreter; its JSON report comes back on stdout."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    argv = [sys.executable, "-m", "bench.extraction", kind, str(archive_path), str(out)]
    done = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
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


def output_root(requested: Path | None, needed: int, fallback: Path) -> Path:
    """Where extractions write. A RAM-backed folder when there is room (and none was asked
    for), so both sides measure extraction rather than the disk's writeback."""
    if requested is not None:
        return requested
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 2 * needed:
        return shm
    return fallback


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    needed = args.mb * 10**6
    with (
        scratch_dir(NAME) as tmp,
        scratch_dir(f"{NAME}-out", output_root(args.out_dir, needed, tmp)) as out_root,
    ):
        archive_path = tmp / "archive.zip"
        progress("generating_archive", mb=args.mb, entries=args.entries)
        t = time.perf_counter()
        uncompressed, compressed = write_zip(archive_path, args.mb * 10**6, args.entries)
        generated = time.perf_counter() - t
        progress(
            "archive_ready",
            uncompressed=uncompressed,
            compressed=compressed,
            seconds=round(generated, 1),
        )
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
        for round_no in range(args.repeat):
            for kind in args.order:
                progress("extraction_started", kind=kind, round=round_no + 1)
                report = run_child(kind, archive_path, out_root / kind)
                if report["bytes_written"] != uncompressed:
                    raise RuntimeError(
                        f"{kind} wrote {report['bytes_written']} of {uncompressed} bytes"
                    )
                runs[kind].append(figures(report, uncompressed))
                progress(
                    "extraction_finished",
                    kind=kind,
                    seconds=round(report["seconds"], 2),
                    peak_rss_mib=round(report["peak_rss_mib"], 1),
                )
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
        "output_filesystem": "tmpfs" if str(out_root).startswith("/dev/shm") else "disk",
        "worker": w,
        "extractall": e,
        "worker_vs_extractall_speed": rounded(
            (w["mb_per_second"] or 0) / e["mb_per_second"] if e["mb_per_second"] else None, 2
        ),
        "worker_peak_rss_minus_extractall_mib": rounded(w["peak_rss_mib"] - e["peak_rss_mib"], 1),
        "all_rounds": runs if args.repeat > 1 else None,
    }
    params = {
        "mb": args.mb,
        "entries": args.entries,
        "repeat": args.repeat,
        "order": list(args.order),
    }
    return result(NAME, params, measurements, started)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.unzip", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--mb", type=int, default=1000, help="uncompressed size in MB (10^6 bytes)")
    parser.add_argument("--entries", type=int, default=8, help="CSV entries in the archive")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds; the fastest of each is reported"
    )
    parser.add_argument(
        "--order",
        type=lambda s: tuple(s.split(",")),
        default=("extractall", "worker"),
        help="comma-separated order within a round (default extractall,worker)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where extractions write (default: /dev/shm when it has room, else a temp dir)",
    )
    args = parser.parse_args(argv)
    if sorted(args.order) != sorted(KINDS):
        parser.error(f"--order must name each of {', '.join(KINDS)} once")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_main(NAME, lambda: measure(args))


if __name__ == "__main__":
    raise SystemExit(main())

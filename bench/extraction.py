"""The child process of the `unzip` benchmark: one extraction, reported as JSON on stdout.

Kept apart from the benchmark so the child imports only what the extraction needs: its peak
RSS is then the extraction's, not the harness's.

    python -m bench.extraction {worker,extractall} ARCHIVE OUT_DIR
"""

from __future__ import annotations

import contextlib
import json
import resource
import sys
import time
import zipfile
from pathlib import Path
from typing import IO, Any

KINDS = ("worker", "extractall")


def _rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB.

    VmHWM belongs to the process's own address space. getrusage's ru_maxrss is not used on
    Linux: it carries the parent's high-water mark over fork and exec, so a child started
    from a large parent reports the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_extraction(archive_path: Path, out: Path) -> dict[str, Any]:
    """The worker's reading of an archive, under its default limits: inspect, then one pass
    that streams each CSV entry's blocks, as read under the caps, to a file here (where the
    worker stages them as blocks of a child blob)."""
    from worker.archive import Archive
    from worker.options import ZipLimits

    rss_before = _rss_mib()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()

    with Archive(archive_path, ZipLimits()) as archive, contextlib.ExitStack() as files:

        def sink_for(info: zipfile.ZipInfo) -> IO[bytes]:
            dest = out / info.orig_filename
            dest.parent.mkdir(parents=True, exist_ok=True)
            return files.enter_context(open(dest, "wb"))

        archive.extract(sink_for)
    end = time.perf_counter()
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "seconds": end - start,
        "bytes_written": written,
        "rss_before_mib": rss_before,
        "peak_rss_mib": _rss_mib(),
        "cpu_seconds": _cpu_seconds() - cpu_before,
    }


def stdlib_extractall(archive_path: Path, out: Path) -> dict[str, Any]:
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


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in KINDS:
        sys.stderr.write(f"usage: python -m bench.extraction {{{','.join(KINDS)}}} ARCHIVE OUT\n")
        return 2
    kind, archive, out = argv[0], Path(argv[1]), Path(argv[2])
    run = worker_extraction if kind == "worker" else stdlib_extractall
    sys.stdout.write(json.dumps(run(archive, out)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Generated inputs: CSV files shaped like the sample workload (postal codes with coordinates)
and zip archives of them. Deterministic, so runs are comparable."""

from __future__ import annotations

import random
import zipfile
from collections.abc import Iterator
from pathlib import Path

CSV_HEADER = "id,postal_cd,country_cd,city_name,state_abbrv,latitude,longitude\n"
STATES = ("AL", "CT", "FL", "GA", "MD", "NC", "NY", "SC", "TX", "VA")
MiB = 1024 * 1024


def csv_row(n: int) -> str:
    lat = 25.0 + (n * 7919 % 2400) / 100.0
    lng = -80.0 - (n * 104729 % 4000) / 100.0
    state = STATES[n % len(STATES)]
    return f"{n},{10000 + n % 89999:05d},US,Town {n % 977},{state},{lat:.4f},{lng:.4f}\n"


def csv_bytes(rows: int, first: int = 0) -> bytes:
    return (CSV_HEADER + "".join(csv_row(first + r) for r in range(rows))).encode()


def _line_pool(seed: int, size: int = 4 * MiB) -> bytes:
    """About `size` bytes of varied CSV lines, made once per archive."""
    rng = random.Random(seed)
    lines = []
    total = 0
    n = 0
    while total < size:
        line = (
            f"{n},{rng.randrange(10000, 99999)},US,Town {rng.randrange(100000)},"
            f"{rng.choice(STATES)},{rng.uniform(24, 49):.6f},{rng.uniform(-125, -67):.6f}\n"
        )
        lines.append(line)
        total += len(line)
        n += 1
    return "".join(lines).encode()


def _csv_chunks(total_bytes: int, pool: bytes, offset: int) -> Iterator[bytes]:
    """About `total_bytes` of CSV text in 1 MiB chunks cut from `pool` at moving offsets. The
    pool is far larger than deflate's 32 KiB window, so the archive compresses like real data
    of this shape (about 2.5:1), not like a repeated block, while generation stays cheap."""
    yield CSV_HEADER.encode()
    written = len(CSV_HEADER)
    position = pool.index(b"\n", offset % len(pool)) + 1  # start on a whole line
    while written < total_bytes:
        want = min(MiB, total_bytes - written)
        chunk = pool[position : position + want]
        if len(chunk) < want:
            chunk += pool[: want - len(chunk)]
        position = (position + want) % len(pool)
        written += len(chunk)
        yield chunk


def write_zip(path: Path, total_bytes: int, entries: int, level: int = 1) -> tuple[int, int]:
    """A zip of `entries` CSV files adding up to about `total_bytes` uncompressed; returns
    (uncompressed bytes, archive bytes). Deflate level 1 keeps generation quick."""
    per_entry = max(total_bytes // entries, 1)
    pool = _line_pool(seed=entries)
    uncompressed = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for i in range(entries):
            # Opening by name makes zipfile apply the archive's compresslevel to the entry.
            with z.open(f"part-{i:04d}.csv", "w", force_zip64=per_entry > 2**31) as out:
                for chunk in _csv_chunks(per_entry, pool, offset=i * 7_777_777):
                    out.write(chunk)
                    uncompressed += len(chunk)
    return uncompressed, path.stat().st_size

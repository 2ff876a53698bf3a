"""Demo data the project makes itself: zips of CSVs and per-state CSVs of postal codes, in
the sample workload's columns, with some rows lacking coordinates (real data has them)."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ["id", "postal_cd", "country_cd", "city_name", "state_abbrv", "latitude", "longitude"]
# (state, first postal code, latitude range, longitude range)
STATES = {
    "CT": (6001, (41.0, 42.05), (-73.7, -71.8)),
    "FL": (32003, (24.5, 31.0), (-87.6, -80.0)),
    "GA": (30002, (30.4, 35.0), (-85.6, -80.8)),
    "MD": (20601, (37.9, 39.7), (-79.5, -75.0)),
    "NC": (27006, (33.8, 36.6), (-84.3, -75.5)),
    "SC": (29001, (32.0, 35.2), (-83.4, -78.5)),
    "VA": (20101, (36.5, 39.5), (-83.7, -75.2)),
}
TOWNS = ["Ashford", "Bristol", "Clayton", "Dover", "Easton", "Fairview", "Georgetown",
         "Hamilton", "Jackson", "Kingston", "Lexington", "Madison", "Newport", "Oakland",
         "Riverside", "Salem", "Troy", "Union", "Vernon", "Winchester"]  # fmt: skip


@dataclass(frozen=True)
class DemoFile:
    name: str
    data: bytes
    rows: int  # CSV data rows (for a zip: over all its CSV entries)
    entries: int  # CSV entries in a zip, 0 for a CSV


def rows_for(state: str, count: int, rng: random.Random, start_id: int) -> list[list[str]]:
    first, (lat0, lat1), (lng0, lng1) = STATES[state]
    rows = []
    for i in range(count):
        missing = rng.random() < 0.08  # some rows have no coordinates, as real data does
        lat = "" if missing else f"{rng.uniform(lat0, lat1):.5f}"
        lng = "" if missing else f"{rng.uniform(lng0, lng1):.5f}"
        rows.append([str(start_id + i), f"{first + i:05d}", "US", rng.choice(TOWNS), state,
                     lat, lng])  # fmt: skip
    return rows


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def generate(seed: int = 2026) -> list[DemoFile]:
    """Three zips of four CSVs each, four per-state CSVs and one file with no route."""
    rng = random.Random(seed)
    files: list[DemoFile] = []
    next_id = 1
    for z, state in enumerate(["NC", "SC", "VA"], start=1):
        buffer = io.BytesIO()
        total = 0
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in range(1, 5):
                count = rng.randint(15, 30)
                archive.writestr(
                    f"split{part}.csv", csv_bytes(rows_for(state, count, rng, next_id))
                )
                next_id += count
                total += count
        files.append(DemoFile(f"{state}-batch{z}.zip", buffer.getvalue(), total, 4))
    for state in ["CT", "FL", "GA", "MD"]:
        count = rng.randint(40, 120)
        data = csv_bytes(rows_for(state, count, rng, next_id))
        next_id += count
        files.append(DemoFile(f"postal_codes_{state.lower()}.csv", data, count, 0))
    files.append(DemoFile("README.txt", b"not data: this file has no route\n", 0, 0))
    return files


def write(folder: Path, files: list[DemoFile]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        (folder / f.name).write_bytes(f.data)


def write_sample_shaped(folder: Path, seed: int = 7) -> None:
    """Files shaped like the public sample workload (NC1..NC3.zip of five CSVs each, one CSV
    per state), for a machine that does not have it."""
    rng = random.Random(seed)
    next_id = 1
    folder.mkdir(parents=True, exist_ok=True)
    for z in range(1, 4):
        with zipfile.ZipFile(folder / f"NC{z}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for part in range(5 * z - 4, 5 * z + 1):
                count = rng.randint(15, 25)
                archive.writestr(f"split{part}.csv", csv_bytes(rows_for("NC", count, rng, next_id)))
                next_id += count
    for state in sorted(STATES):
        count = rng.randint(40, 120)
        data = csv_bytes(rows_for(state, count, rng, next_id))
        next_id += count
        (folder / f"postal_codes_{state.lower()}.csv").write_bytes(data)

"""Summarize a stations file (seed 001's workload): a JSON list of weather stations, each
with an id, latitude, longitude and elevation. Writes `<out>/summary.yaml` (counts, means,
the highest station) and `<out>/by_band.csv` (stations per 10° latitude band).

Exit codes, as the route's `exit_codes` table says: 0 done; 3 the file is not a stations
file (the last line on stderr says which station and why, and the file ends `rejected`);
anything else is retried by dropbatch."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml  # the program's own requirement (requirements.txt)

REJECT = 3


def reject(reason: str) -> int:
    print(reason, file=sys.stderr)
    return REJECT


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    try:
        stations = json.loads(args.stations.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return reject(f"{args.stations.name}: not JSON ({e})")
    if not isinstance(stations, list) or not stations:
        return reject(f"{args.stations.name}: expected a non-empty JSON list of stations")
    bands: dict[int, int] = {}
    for i, s in enumerate(stations):
        try:
            lat, lon, elevation = float(s["lat"]), float(s["lon"]), float(s["elevation"])
        except (KeyError, TypeError, ValueError):
            return reject(f"station {i}: needs numeric lat, lon and elevation")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return reject(f"station {i} ({s.get('id')}): lat/lon out of range")
        s["lat"], s["lon"], s["elevation"] = lat, lon, elevation
        band = int(lat // 10 * 10)
        bands[band] = bands.get(band, 0) + 1
    highest = max(stations, key=lambda s: s["elevation"])
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "stations": len(stations),
        "mean_latitude": sum(s["lat"] for s in stations) / len(stations),
        "mean_longitude": sum(s["lon"] for s in stations) / len(stations),
        "highest": {"id": highest.get("id"), "elevation": highest["elevation"]},
    }
    (args.out / "summary.yaml").write_text(yaml.safe_dump(summary, sort_keys=True))
    with open(args.out / "by_band.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["band", "stations"])
        writer.writerows(sorted(bands.items()))
    print(f"summarized {len(stations)} stations into {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())

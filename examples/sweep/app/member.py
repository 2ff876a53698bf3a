"""One member of a sum-of-powers sweep (seed 003's parallel for-loop): the sum of
k ** power for k in [start, stop) of its item, with `power` from the file's global object.
Writes {"index", "sum"} to the output path; an item with stop < start is refused (exit 3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    shared, params, out = (Path(a) for a in sys.argv[1:4])
    power = int(json.loads(shared.read_text())["power"])
    item = json.loads(params.read_text())
    start, stop = int(item["start"]), int(item["stop"])
    if stop < start:
        print(f"item {item}: stop is below start", file=sys.stderr)
        return 3
    total = sum(k**power for k in range(start, stop))
    out.write_text(json.dumps({"start": start, "stop": stop, "sum": total}))
    print(f"sum of k**{power} for k in [{start}, {stop}) = {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

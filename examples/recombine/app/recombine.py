"""The merge of an entries fan-out: joins every member's part.txt (in member order) into
final.txt and checks that as many parts came as members were planned."""

from __future__ import annotations

import sys
from pathlib import Path


def member_number(path: Path) -> int:
    return int(path.parent.name)


def main() -> int:
    folder, out, expected = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    parts = sorted(folder.rglob("part.txt"), key=member_number)
    if len(parts) != expected:
        print(f"expected {expected} parts, found {len(parts)}", file=sys.stderr)
    out.write_text("".join(p.read_text() for p in parts))
    print(f"recombined {len(parts)} parts of {expected}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The merge of a sum-of-powers sweep: adds up every member's outputs.json found under the
folder Batch staged them in (each keeps its full blob name there) into total.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    parts = sorted(folder.rglob("outputs.json"))
    total = sum(int(json.loads(p.read_text())["sum"]) for p in parts)
    out.write_text(json.dumps({"members": len(parts), "total": total}))
    print(f"{len(parts)} members, total {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

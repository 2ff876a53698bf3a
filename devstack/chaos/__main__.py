"""`python -m devstack.chaos [--smoke] [--only hop:fault,...] [--files N] [--table]`: the
fault matrix on a local stack of its own (free ports, a temporary folder). Prints one JSON
object; exits 1 if any cell lost, duplicated or got anything wrong."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devstack.chaos.cells import select
from devstack.chaos.runner import failed, run_matrix
from devstack.chaos.table import markdown


def main(argv: list[str] | None = None) -> int:
    """Run the cells asked for; 0 when every one is clean."""
    parser = argparse.ArgumentParser(prog="python -m devstack.chaos", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="the CI subset only")
    parser.add_argument("--only", help="comma-separated cells: hop:fault or hop:*")
    parser.add_argument("--files", type=int, default=3, help="CSV files per cell (default 3)")
    parser.add_argument("--out", type=Path, help="also write the JSON report to this file")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (logs)")
    parser.add_argument("--table", type=Path, help="print the markdown table of a report")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return 0
    if args.files < 1:
        parser.error("--files wants at least 1")
    try:
        cells = select(args.only.split(",") if args.only else None, args.smoke)
    except ValueError as e:
        parser.error(str(e))
    result = run_matrix(cells, args.files, args.keep)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 1 if failed(result) else 0


if __name__ == "__main__":
    sys.exit(main())

"""`dropbatch`: the operator's command line. `status` is where to look first."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from batch_core import reconcile
from batch_core.clock import iso, utcnow
from batch_core.errors import DropbatchError
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import settings_with_file
from batch_core.states import RunState

LOCAL_SETTINGS = "./local.settings.json"
COLUMNS = ("state", "name", "rows", "docs", "rejects", "updated", "reason")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dropbatch", description=__doc__)
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="a local.settings.json to read settings from (default: ./local.settings.json "
        "when there, else the environment only)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="a table of runs, newest first")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--state", choices=[s.value for s in RunState])
    status.add_argument("--limit", type=int, default=200)
    sub.add_parser("init", help="create the containers and the database if missing")
    sub.add_parser("reconcile", help="run one reconcile tick now and print its report")
    alerts = sub.add_parser("alerts", help="recent alerts")
    alerts.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        p = Pipeline.build(settings_with_file(settings_file(args.settings)))
        if args.command == "status":
            state = RunState(args.state) if args.state else None
            runs = p.ledger.recent(args.limit, state)
            print(json.dumps([r.to_doc() for r in runs], indent=2) if args.json else table(runs))
        elif args.command == "init":
            p.provision()
            print("containers and database are ready")
        elif args.command == "reconcile":
            print(json.dumps(reconcile.tick(p, utcnow()).as_dict(), indent=2))
        elif args.command == "alerts":
            found = p.alerts.recent()
            if args.json:
                print(json.dumps(found, indent=2))
            for a in [] if args.json else found:
                print(
                    f"{a['at']}  {a['severity']:<7} {a['kind']:<7} {a['subject']}: {a['message']}"
                )
    except DropbatchError as e:
        print(f"dropbatch: {e}", file=sys.stderr)
        return 1
    return 0


def settings_file(given: str | None) -> str | None:
    """The settings file to read: the one given, else ./local.settings.json when there (the
    Functions tooling's convention), else none (the environment). Says which on stderr."""
    path = given or (LOCAL_SETTINGS if os.path.isfile(LOCAL_SETTINGS) else None)
    print(f"dropbatch: settings from {path or 'the environment'}", file=sys.stderr)
    return path


def row(run: Run) -> dict[str, Any]:
    s = run.summary
    return {
        "state": run.state.value,
        "name": f"{run.container}/{run.name}",
        "rows": s.get("rows", ""),
        "docs": s.get("documents", s.get("children", "")),
        "rejects": s.get("rejects", ""),
        "updated": iso(run.updated_at)[:19].replace("T", " "),
        "reason": run.reason,
    }


def table(runs: Sequence[Run]) -> str:
    if not runs:
        return "no runs yet: drop a .csv or .zip file into the incoming container"
    rows = [row(r) for r in runs]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS[:-1]}
    lines = ["  ".join(c.upper().ljust(widths.get(c, 0)) for c in COLUMNS)]
    for r in rows:
        lines.append("  ".join(str(r[c]).ljust(widths.get(c, 0)) for c in COLUMNS))
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.state.value] = counts.get(run.state.value, 0) + 1
    lines.append("")
    lines.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""`dropbatch`: the operator's command line. `status` is where to look first."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batch_core import cost, doctor, poolcli, reconcile, replay, runview
from batch_core.clock import iso, utcnow
from batch_core.errors import DropbatchError, SettingError
from batch_core.explain import explain as explain_route
from batch_core.fanoutstate import members_cell
from batch_core.pipeline import Pipeline
from batch_core.routebook import DEFAULT_ROUTES_FILE, ROUTES_FILE, load_routes, load_routes_from_env
from batch_core.run import Run
from batch_core.settings import local_settings_values, settings_with_file
from batch_core.states import TERMINAL as TERMINAL_STATES
from batch_core.states import RunState

LOCAL_SETTINGS = "./local.settings.json"
COLUMNS = ("state", "route", "name", "members", "rows", "docs", "rejects", "updated", "reason")


def main(argv: Sequence[str] | None = None) -> int:
    """The `dropbatch` command line: parse `argv`, run the subcommand, return the exit code."""
    parser = argparse.ArgumentParser(prog="dropbatch", description=__doc__)
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="a local.settings.json to read settings from (default: ./local.settings.json "
        "when there, else the environment only)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser(
        "status", help="a table of runs, newest first; or one run with its history and files"
    )
    status.add_argument(
        "run",
        nargs="?",
        metavar="NAME_OR_KEY",
        help="a file key (or its first 8+ characters) or a blob name (its newest run)",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--state", choices=[s.value for s in RunState])
    status.add_argument("--limit", type=int, default=200)
    sub.add_parser("init", help="create the containers and the database if missing")
    sub.add_parser("reconcile", help="run one reconcile tick now and print its report")
    alerts = sub.add_parser("alerts", help="recent alerts")
    alerts.add_argument("--json", action="store_true")
    routes = sub.add_parser("routes", help="the routes file").add_subparsers(
        dest="routes_command", required=True
    )
    check = routes.add_parser("check", help="validate a routes file (no services needed)")
    check.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help=f"default: {ROUTES_FILE}, else {DEFAULT_ROUTES_FILE} in the current directory",
    )
    explain_cmd = routes.add_parser(
        "explain", help="which route a blob name takes and the Batch task it would get"
    )
    explain_cmd.add_argument(
        "blob_name", metavar="BLOB_NAME", help="a name in the incoming container"
    )
    assets = sub.add_parser("assets", help="the assets container").add_subparsers(
        dest="assets_command", required=True
    )
    push = assets.add_parser("push", help="upload a folder's files under a prefix")
    push.add_argument("folder", metavar="DIR")
    push.add_argument("prefix", metavar="PREFIX", help="e.g. hexgrid/v1 (routes say config:…)")
    pools = sub.add_parser("pools", help="the pools of the routes file").add_subparsers(
        dest="pools_command", required=True
    )
    pools.add_parser("check", help="compare each pool with the routes file (creates nothing)")
    replay = sub.add_parser("replay", help="run files again, as new runs linked to the old")
    replay.add_argument("prefix", metavar="PREFIX", help="runs whose blob name starts so")
    replay.add_argument("--state", choices=sorted(s.value for s in TERMINAL_STATES))
    replay.add_argument(
        "--replay-id", help="name the replay: the same id again creates nothing new"
    )
    cost = sub.add_parser("cost", help="node hours per route and day, from Batch's task times")
    cost.add_argument("--days", type=int, default=7, help="the last N days, today included")
    cost.add_argument(
        "--price-per-node-hour",
        type=float,
        metavar="X",
        help="overrides DROPBATCH_NODE_HOUR_PRICE",
    )
    cost.add_argument("--json", action="store_true")
    sub.add_parser("doctor", help="check every service the app needs, with what to do")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "routes" and args.routes_command == "check":
        return check_routes(args.file, settings_file(args.settings))
    if args.command in ("assets", "pools"):
        args.settings = settings_file(args.settings)
        return poolcli.run(args)
    if args.command == "doctor":
        return run_doctor(settings_file(args.settings))
    try:
        p = Pipeline.build(settings_with_file(settings_file(args.settings)))
        return run_on_pipeline(p, args)
    except DropbatchError as e:
        print(f"dropbatch: {e}", file=sys.stderr)
        return 1


def run_on_pipeline(p: Pipeline, args: argparse.Namespace) -> int:
    """The subcommands that need the pipeline's services; 0 unless one says otherwise."""
    if args.command == "status" and args.run:
        show_run(p, args.run, args.json)
    elif args.command == "replay":
        return replay_files(p, args.prefix, args.state, args.replay_id)
    elif args.command == "cost":
        show_cost(p, args.days, args.price_per_node_hour, args.json)
    elif args.command == "status":
        state = RunState(args.state) if args.state else None
        runs = p.ledger.recent(args.limit, state)
        print(json.dumps([r.to_doc() for r in runs], indent=2) if args.json else table(runs))
    elif args.command == "init":
        p.provision()
        print("containers and database are ready")
        print(f"worker wheel: {poolcli.upload_worker_wheel(p.settings)}")
    elif args.command == "routes":
        print(json.dumps(explain_route(p, args.blob_name, utcnow()), indent=2, default=str))
    elif args.command == "reconcile":
        print(json.dumps(reconcile.tick(p, utcnow()).as_dict(), indent=2))
    elif args.command == "alerts":
        found = p.alerts.recent()
        if args.json:
            print(json.dumps(found, indent=2))
        for a in [] if args.json else found:
            print(f"{a['at']}  {a['severity']:<7} {a['kind']:<7} {a['subject']}: {a['message']}")
    return 0


def show_run(p: Pipeline, name_or_key: str, as_json: bool) -> None:
    """`dropbatch status NAME_OR_KEY`: one run, its history and the blobs it left."""
    found = runview.view(p, runview.find_run(p, name_or_key))
    print(json.dumps(found.as_dict(), indent=2) if as_json else runview.text(found))


def replay_files(p: Pipeline, prefix: str, state: str | None, replay_id: str | None) -> int:
    """`dropbatch replay`: one line per chosen run as it goes, then the counts."""
    now = utcnow()
    rid = replay.check_replay_id(replay_id) if replay_id else replay.new_replay_id(now)
    runs = replay.chosen(p, prefix, RunState(state) if state else None)
    print(
        f"replay {rid}: {len(runs)} runs of {p.settings.container_incoming}/{prefix}*", flush=True
    )
    done = replay.replay(p, runs, rid, now, lambda r: print(r.line(), flush=True))
    print(replay.summary(done, rid))
    if any(d.outcome == "replayed" for d in done):
        print(f"the same command with --replay-id {rid} creates nothing new")
    return 0


def show_cost(p: Pipeline, days: int, price: float | None, as_json: bool) -> None:
    """`dropbatch cost`: node hours per day and route, and a price when one is known."""
    if days < 1:
        raise SettingError("--days", f"{days} is below the minimum 1")
    price = price if price is not None else p.settings.node_hour_price
    now = utcnow()
    lines = cost.totals(cost.task_times(p, cost.window_start(now, days), now))
    if as_json:
        print(json.dumps([c.as_dict(price) for c in lines], indent=2))
    else:
        print(cost.text(lines, price, days, p.settings.job_retention_days))


def run_doctor(path: str | None) -> int:
    """`dropbatch doctor`: one line per check; 1 when any failed."""
    try:
        settings = settings_with_file(path)
    except DropbatchError as e:
        print(f"FAIL  settings: {e}")
        return 1
    print(f"ok    settings: {path or 'the environment'}")
    passed = doctor.examine(settings, Path.cwd(), lambda r: print(r.line(), flush=True))
    print("all checks passed" if passed else "some checks failed: see the -> lines")
    return 0 if passed else 1


def check_routes(path: str | None, settings_file: str | None) -> int:
    """`dropbatch routes check`: load the routes file as the app would; 0 if it is valid."""
    try:
        if path is not None:
            book = load_routes(path)
        else:
            env = dict(os.environ)
            if settings_file:
                env.update(local_settings_values(settings_file))
            book = load_routes_from_env(env, os.getcwd())
    except DropbatchError as e:
        print(e, file=sys.stderr)
        return 1
    counts = f"{_plural(len(book.routes), 'route')}, {_plural(len(book.pools), 'pool')} OK"
    if book.source is None:
        print(f"no {DEFAULT_ROUTES_FILE} here: the built-in routes apply ({counts})")
    else:
        print(f"{book.source}: {counts}")
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def settings_file(given: str | None) -> str | None:
    """The settings file to read: the one given, else ./local.settings.json when there (the
    Functions tooling's convention), else none (the environment). Says which on stderr."""
    path = given or (LOCAL_SETTINGS if os.path.isfile(LOCAL_SETTINGS) else None)
    print(f"dropbatch: settings from {path or 'the environment'}", file=sys.stderr)
    return path


def row(run: Run) -> dict[str, Any]:
    """One run as a row of the status table."""
    s = run.summary
    return {
        "state": run.state.value,
        "route": run.route,
        "name": f"{run.container}/{run.name}",
        "members": members_cell(run),
        "rows": s.get("rows", ""),
        "docs": s.get("documents", s.get("children", "")),
        "rejects": s.get("rejects", ""),
        "updated": iso(run.updated_at)[:19].replace("T", " "),
        "reason": run.reason,
    }


def table(runs: Sequence[Run]) -> str:
    """The runs as a text table, or a hint when there are none."""
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

"""`make demo`: the whole pipeline on the local stack. Starts the stack if needed, makes demo
data, drops it into `incoming`, shows progress until every file (and every CSV inside the
zips) has ended, then prints the results."""

from __future__ import annotations

import sys
import time

from batch_core.assets import Assets
from batch_core.blobstore import blob_service
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import settings_with_file
from devstack import __main__ as stackctl
from devstack.demodata import DemoFile, generate, write
from devstack.servers import ROOT

TIMEOUT_SECONDS = 600
EXAMPLES = ROOT / "examples"
ROUTE_KINDS: dict[str, str] = {}  # route name → kind, from the routes the stack runs
EXAMPLE_PROGRAMS = (
    ("stations", "stations/v1/app"),
    ("fileinfo", "fileinfo/v1/app"),
    ("sweep", "sweep/v1/app"),
    ("recombine", "recombine/v1/app"),
)
# (sample, folder it is dropped in): the folder picks the route.
EXAMPLE_INPUTS = (
    ("stations_north.json", "stations"),
    ("stations_broken.json", "stations"),
    ("notes.txt", "any"),
    ("sweep_squares.json", "sweeps"),  # a fan-out: one member per item, then the merge
)


def main() -> int:
    if stackctl.read_stack(stackctl.STATE_DIR) is None and stackctl.up(stackctl.STATE_DIR) != 0:
        return 1
    p = Pipeline.build(settings_with_file(str(ROOT / "local.settings.json")), app_root=ROOT)
    ROUTE_KINDS.update({r.name: r.kind for r in p.routes.routes})
    files = generate()
    folder = ROOT / "demo-data"
    write(folder, files)
    batch = time.strftime("demo-%Y%m%d-%H%M%S")
    print(
        f"\nmade {len(files)} demo files in {folder.relative_to(ROOT)}/; dropping them into "
        f"'{p.settings.container_incoming}' under {batch}/"
    )
    for f in files:
        p.blobs.upload(p.settings.container_incoming, f"{batch}/{f.name}", f.data)
    own = drop_own_programs(p, batch)
    expected = len(files) + sum(f.entries for f in files) + own
    runs = watch(p, batch, expected)
    if runs is None:
        return 1
    print()
    print(results_table(runs, files))
    print(f"""
Look further:
  .venv/bin/dropbatch status     every run (--json for scripts; reads ./local.settings.json)
  .venv/bin/dropbatch alerts     alerts raised
  summaries in '{p.settings.container_results}', task logs in '{p.settings.container_logs}'
    (Azurite blob endpoint {p.settings.blob_endpoint})
  .devstack/logs/                each server's log
The stack keeps running for you: `make down` stops it.""")
    page = (stackctl.read_stack(stackctl.STATE_DIR) or {}).get("status_page")
    if page:
        print(f"status page: {page}")
    return 0


def drop_own_programs(p: Pipeline, batch: str) -> int:
    """Push the example programs to the assets container and drop their sample inputs onto
    the example command routes (examples/routes.toml); return how many files were dropped."""
    if p.routes.source is None:
        return 0  # the stack runs without the example routes: built-in programs only
    assets = Assets(blob_service(p.settings), p.settings)
    assets.provision()
    for program, prefix in EXAMPLE_PROGRAMS:
        assets.push(EXAMPLES / program / "app", prefix)
    for sample, where in EXAMPLE_INPUTS:
        name = f"{batch}/{where}/{sample}"
        p.blobs.upload(
            p.settings.container_incoming, name, (EXAMPLES / "samples" / sample).read_bytes()
        )
    print(f"dropped {len(EXAMPLE_INPUTS)} files onto the command routes of {p.routes.source}")
    return len(EXAMPLE_INPUTS)


def watch(p: Pipeline, batch: str, expected: int) -> list[Run] | None:
    """Print progress until `expected` runs under `batch/` are terminal."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    last = ""
    while time.monotonic() < deadline:
        runs = [r for r in p.ledger.recent(5000) if r.name.startswith(f"{batch}/")]
        done = [r for r in runs if r.state.terminal]
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.state.value] = counts.get(r.state.value, 0) + 1
        tally = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        line = f"  {len(done)}/{expected} files ended  ({tally})"
        if line != last:
            print(line, flush=True)
            last = line
        if len(done) >= expected:
            return sorted(runs, key=lambda r: r.name)
        time.sleep(1.0)
    print(
        f"not every file ended within {TIMEOUT_SECONDS}s: see `make status` and .devstack/logs",
        file=sys.stderr,
    )
    return None


def results_table(runs: list[Run], files: list[DemoFile]) -> str:
    lines = [f"{'FILE':<58} {'STATE':<10} {'ROWS':>5} {'DOCS':>5}  HIGHLIGHTS"]
    for r in runs:
        s = r.summary
        short = r.name.split("/", 1)[1]
        highlights = r.reason if r.state.value != "succeeded" else highlight(r)
        lines.append(
            f"{short[:58]:<58} {r.state.value:<10} {s.get('rows', ''):>5} "
            f"{s.get('documents', ''):>5}  {highlights}"
        )
    total_rows = sum(int(r.summary.get("rows", 0) or 0) for r in runs if kind_of(r) == "csv")
    made = sum(f.rows for f in files)
    lines.append(f"\n{total_rows} CSV rows processed; the demo data has {made}.")
    return "\n".join(lines)


def kind_of(r: Run) -> str:
    return ROUTE_KINDS.get(r.route, r.route)


def highlight(r: Run) -> str:
    s = r.summary
    if kind_of(r) == "zip":
        return f"{s.get('children', len(r.children))} CSV files extracted"
    if r.fanout is not None:
        members = s.get("members") or {}
        return (
            f"route {r.route}: {members.get('succeeded', 0)}/{members.get('planned', 0)} "
            f"members succeeded, merge {s.get('merge')}, {s.get('output_count', 0)} outputs"
        )
    if kind_of(r) == "command":
        return f"route {r.route}: exit {s.get('exit_code')}, {s.get('output_count', 0)} outputs"
    groups = s.get("groups") or {}
    parts = [
        f"{g}: mean ({v.get('mean_latitude', 0):.3f}, {v.get('mean_longitude', 0):.3f})"
        for g, v in sorted(groups.items())
        if isinstance(v, dict) and v.get("count")
    ]
    missing = s.get("rows_without_coordinates")
    if missing:
        parts.append(f"{missing} rows without coordinates")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())

"""End to end: the sample workload (3 zips of CSVs, 7 per-state CSVs) dropped into
`incoming` on the whole local stack. The expected figures are computed here from the sample
files with the standard library, independently of the worker."""

from __future__ import annotations

import csv
import io
import time
import uuid
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from batch_core.cosmosdb import RECORDS, cosmos_client
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.stack]
TIMEOUT_SECONDS = 240


def expected_figures(
    text: str,
) -> tuple[int, int, dict[str, tuple[int, int, float, float]]]:
    """(data rows, rows without coordinates,
    {state: (rows, rows with coordinates, mean lat, mean lng)})."""
    rows = list(csv.DictReader(io.StringIO(text)))
    sums: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
    missing = 0
    for row in rows:
        acc = sums[row["state_abbrv"]]
        acc[0] += 1
        if not row["latitude"].strip() or not row["longitude"].strip():
            missing += 1
            continue
        acc[1] += 1
        acc[2] += float(row["latitude"])
        acc[3] += float(row["longitude"])
    groups = {s: (int(a[0]), int(a[1]), a[2] / a[1], a[3] / a[1]) for s, a in sums.items()}
    return len(rows), missing, groups


def sample_csvs(samples: Path) -> dict[str, str]:
    """Every CSV of the workload by its name (zip entries as zip/entry)."""
    found = {p.name: p.read_text(encoding="utf-8") for p in sorted(samples.glob("*.csv"))}
    for z in sorted(samples.glob("*.zip")):
        with zipfile.ZipFile(z) as archive:
            for entry in archive.namelist():
                found[f"{z.name}/{entry}"] = archive.read(entry).decode("utf-8")
    return found


def wait_for_runs(p: Pipeline, prefix: str, expected: int) -> list[Run]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        runs = [r for r in p.ledger.recent(1000) if r.name.startswith(prefix)]
        if len(runs) >= expected and all(r.state.terminal for r in runs):
            return runs
        time.sleep(1)
    states = sorted((r.name, r.state.value) for r in runs)
    raise AssertionError(f"{len(runs)}/{expected} runs, not all terminal: {states}")


def test_the_sample_workload_runs_end_to_end(live_stack: Stack, samples: Path) -> None:
    # Given the whole stack running, with the Functions host watching `incoming`
    p = Pipeline.build(Settings.from_env(live_stack.values))
    prefix = f"samples-{uuid.uuid4().hex[:6]}/"
    csvs = sample_csvs(samples)
    dropped = sorted(samples.glob("*.zip")) + sorted(samples.glob("*.csv"))

    # When an operator drops the 3 zips and 7 CSVs
    for path in dropped:
        p.blobs.upload(p.settings.container_incoming, prefix + path.name, path.read_bytes())

    # Then every file and every CSV inside the zips ends succeeded
    runs = wait_for_runs(p, prefix, expected=len(csvs) + 3)
    assert {r.state.value for r in runs} == {"succeeded"}, [(r.name, r.reason) for r in runs]
    by_source: dict[str, Run] = {}
    for r in runs:
        if r.route == "csv":
            rel = r.name[len(prefix) :]
            # children are named <zip>.parts/<key12>/<entry>
            if ".zip.parts/" in rel:
                zip_name, rest = rel.split(".parts/", 1)
                rel = f"{zip_name}/{rest.split('/', 1)[1]}"
            by_source[rel] = r
    assert sorted(by_source) == sorted(csvs)
    zips = [r for r in runs if r.route == "zip"]
    assert all(len(z.children) == 5 for z in zips)

    records_c = (
        cosmos_client(p.settings)
        .get_database_client(p.settings.cosmos_database)
        .get_container_client(RECORDS)
    )
    for source, text in csvs.items():
        run = by_source[source]
        rows, missing, groups = expected_figures(text)
        # And Cosmos holds one document per data row, with the summary's figures exact
        docs = list(
            records_c.query_items(
                "SELECT VALUE c.id FROM c WHERE c.file_key = @k",
                parameters=[{"name": "@k", "value": run.key}],
                enable_cross_partition_query=True,
            )
        )
        assert len(docs) == rows, source
        summary = p.blobs.read_json(
            p.settings.container_results, f"{run.name}/{run.key}/summary.json"
        )
        assert summary is not None, source
        assert summary["rows"] == rows and summary["documents"] == rows
        assert summary["rows_without_coordinates"] == missing, source
        got = summary["groups"]
        assert sorted(got) == sorted(groups), source
        for state, (count, located, lat, lng) in groups.items():
            assert got[state]["count"] == count
            assert got[state]["coordinates"] == located
            assert got[state]["mean_latitude"] == pytest.approx(lat, abs=1e-9)
            assert got[state]["mean_longitude"] == pytest.approx(lng, abs=1e-9)

"""The sample workload end to end: each file through `python -m worker` against real servers.

Expected values are computed here from the sample files with the csv module, independently of
the worker's code.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.worker.node import INCOMING, WorkerStack, unique
from worker.contract import ENTRY_METADATA, PARENT_METADATA, child_prefix

pytestmark = pytest.mark.stack


def expected(data: bytes) -> dict[str, Any]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    without = 0
    for row in rows:
        counts[row["state_abbrv"]] += 1
        if row["latitude"] and row["longitude"]:
            points[row["state_abbrv"]].append((float(row["latitude"]), float(row["longitude"])))
        else:
            without += 1
    groups = {
        state: {
            "count": counts[state],
            "coordinates": len(points[state]),
            "mean_latitude": math.fsum(p[0] for p in points[state]) / len(points[state]),
            "mean_longitude": math.fsum(p[1] for p in points[state]) / len(points[state]),
        }
        for state in counts
    }
    return {"rows": len(rows), "without": without, "groups": groups}


def test_each_state_csv_becomes_one_document_per_row_and_a_summary_with_state_means(
    worker_stack: WorkerStack, samples: Path
) -> None:
    for path in sorted(samples.glob("postal_codes_*.csv")):
        data = path.read_bytes()
        want = expected(data)
        name = unique(path.name)

        run = worker_stack.process("csv", name, data)

        assert run.code == 0, run.stderr
        summary = run.summary()
        assert summary["outcome"] == "succeeded"
        assert summary["reason"] is None
        assert summary["rows"] == want["rows"]
        assert summary["documents"] == want["rows"]
        assert summary["rejects"] == 0
        assert summary["rows_without_coordinates"] == want["without"]
        assert set(summary["groups"]) == set(want["groups"])
        for state, group in want["groups"].items():
            got = summary["groups"][state]
            assert got["count"] == group["count"]
            assert got["coordinates"] == group["coordinates"]
            assert got["mean_latitude"] == pytest.approx(group["mean_latitude"], abs=1e-12)
            assert got["mean_longitude"] == pytest.approx(group["mean_longitude"], abs=1e-12)
        documents = worker_stack.documents(run.key)
        assert len(documents) == want["rows"]
        with_point = [d for d in documents if "location" in d]
        assert len(with_point) == want["rows"] - want["without"]


def test_a_document_keeps_the_original_text_and_adds_a_geojson_point(
    worker_stack: WorkerStack, real_samples: Path
) -> None:
    data = (real_samples / "postal_codes_ct.csv").read_bytes()
    name = unique("ct.csv")

    run = worker_stack.process("csv", name, data)

    assert run.code == 0, run.stderr
    first = next(d for d in worker_stack.documents(run.key) if d["row"] == 1)
    assert first["values"] == {
        "id": "2058",
        "postal_cd": "06001",
        "country_cd": "US",
        "city_name": "Avon",
        "state_abbrv": "CT",
        "latitude": "41.7916300000",
        "longitude": "-72.8545260000",
    }
    assert first["numbers"] == {"latitude": 41.79163, "longitude": -72.854526}
    assert first["location"] == {"type": "Point", "coordinates": [-72.854526, 41.79163]}
    assert first["pk"] == run.key
    assert first["file_key"] == run.key
    assert first["schema_version"] == 1
    assert first["source"]["name"] == name


def test_a_row_without_coordinates_has_no_location_and_is_not_an_error(
    worker_stack: WorkerStack, real_samples: Path
) -> None:
    data = (real_samples / "postal_codes_md.csv").read_bytes()

    run = worker_stack.process("csv", unique("md.csv"), data)

    assert run.code == 0, run.stderr
    first = next(d for d in worker_stack.documents(run.key) if d["row"] == 1)
    assert first["values"]["latitude"] == ""
    assert "location" not in first
    assert first["numbers"] == {}
    assert run.summary()["rejects"] == 0


def test_each_sample_zip_uploads_its_five_csv_entries_as_children(
    worker_stack: WorkerStack, samples: Path
) -> None:
    for path in sorted(samples.glob("NC*.zip")):
        data = path.read_bytes()
        name = unique(path.name)
        entries = sorted(zipfile.ZipFile(path).namelist())

        run = worker_stack.process("zip", name, data)

        assert run.code == 0, run.stderr
        summary = run.summary()
        assert summary["outcome"] == "succeeded"
        prefix = f"{child_prefix(name, run.key)}/"
        assert [c["entry"] for c in summary["children"]] == sorted(entries) or sorted(
            c["entry"] for c in summary["children"]
        ) == entries
        assert worker_stack.list_blobs(INCOMING, prefix) == sorted(prefix + e for e in entries)
        for child in summary["children"]:
            blob = worker_stack.blobs.get_blob_client(INCOMING, child["blob"])
            props = blob.get_blob_properties()
            assert props.metadata == {
                PARENT_METADATA: run.key,
                ENTRY_METADATA: child["entry"],
            }
            assert worker_stack.read(INCOMING, child["blob"]) == zipfile.ZipFile(path).read(
                child["entry"]
            )
            assert child["bytes"] == props.size
        assert summary["skipped"] == []


def test_the_children_of_a_sample_zip_each_become_documents_like_any_csv(
    worker_stack: WorkerStack, samples: Path
) -> None:
    path = samples / "NC1.zip"
    archive = zipfile.ZipFile(path)
    zip_run = worker_stack.process("zip", unique("NC1.zip"), path.read_bytes())
    assert zip_run.code == 0, zip_run.stderr

    total = 0
    for child in zip_run.summary()["children"]:
        run = worker_stack.process("csv", child["blob"])
        want = expected(archive.read(child["entry"]))

        assert run.code == 0, run.stderr
        assert run.summary()["rows"] == want["rows"]
        assert len(worker_stack.documents(run.key)) == want["rows"]
        total += want["rows"]
    assert total == sum(len(archive.read(n).decode().splitlines()) - 1 for n in archive.namelist())

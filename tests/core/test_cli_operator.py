"""`dropbatch status NAME_OR_KEY`, `replay` and `cost` against the local stack, through the
command line as an operator runs them."""

from __future__ import annotations

import json

import pytest

from batch_core import intake
from batch_core.blobstore import REPLAY_ID_METADATA, REPLAY_OF_METADATA
from batch_core.clock import utcnow
from batch_core.states import RunState
from devstack.stack import Stack
from tests.core.pipeline_helpers import CSV_HEADER, drain, drop, pipeline_with, unique
from tests.core.test_cli import dropbatch

pytestmark = pytest.mark.stack


def test_status_of_one_run_by_name_or_key_prefix_shows_its_history_and_hints(
    stack: Stack,
) -> None:
    p = pipeline_with(stack)
    name = unique("memo.txt")
    run = intake.receive(p, drop(p, name, b"not data"), utcnow())
    assert run is not None and run.state is RunState.REJECTED

    by_name = dropbatch(stack, "status", name)
    by_key = dropbatch(stack, "status", run.key[:10], "--json")

    assert by_name.returncode == 0, by_name.stderr
    assert f"key       {run.key}" in by_name.stdout
    assert "rejected" in by_name.stdout and "dropbatch routes check" in by_name.stdout
    doc = json.loads(by_key.stdout)
    assert doc["run"]["id"] == run.key
    assert [h["state"] for h in doc["run"]["history"]] == ["received", "rejected"]
    missing = dropbatch(stack, "status", unique("never.csv"))
    assert missing.returncode == 1 and "no run has the key or the blob name" in missing.stderr


def test_replay_puts_the_file_back_linked_to_its_run_once_per_replay_id(stack: Stack) -> None:
    # Given a rejected run whose file is still in incoming
    p = pipeline_with(stack)
    name = unique("memo.txt")
    old = intake.receive(p, drop(p, name, b"not data"), utcnow())
    assert old is not None
    folder = name.split("/")[0] + "/"

    # When it is replayed twice with the same id
    first = dropbatch(stack, "replay", folder, "--state", "rejected", "--replay-id", "op-1")
    second = dropbatch(stack, "replay", folder, "--state", "rejected", "--replay-id", "op-1")

    # Then the first copies it onto itself as a new version, the second changes nothing
    assert first.returncode == 0, first.stderr
    assert f"replayed {name} ({old.key} -> " in first.stdout
    assert "1 replayed, 0 already, 0 skipped" in first.stdout
    assert "0 replayed, 1 already, 0 skipped" in second.stdout, second.stdout
    (blob,) = [b for b in p.blobs.list(p.settings.container_incoming, folder)]
    assert blob.etag != old.etag
    assert blob.metadata[REPLAY_OF_METADATA] == old.key
    assert blob.metadata[REPLAY_ID_METADATA] == "op-1"
    # And its trigger makes a new run that names the old one, shown by status
    new = intake.receive(p, blob, utcnow())
    assert new is not None and new.replay_of == old.key and new.key != old.key
    shown = dropbatch(stack, "status", new.key)
    assert f"replay of {old.key}" in shown.stdout
    assert f"replayed  as {new.key} (replay op-1)" in dropbatch(stack, "status", old.key).stdout


def test_cost_counts_the_node_time_of_a_processed_file(stack: Stack) -> None:
    p = pipeline_with(stack)
    run = intake.receive(
        p, drop(p, unique("zips.csv"), CSV_HEADER + b"1,06001,US,Avon,CT,41.8,-72.8\n"), utcnow()
    )
    assert run is not None
    assert drain(p, run.key).state is RunState.SUCCEEDED

    result = dropbatch(stack, "cost", "--days", "1", "--price-per-node-hour", "3.6", "--json")

    assert result.returncode == 0, result.stderr
    (csv,) = [c for c in json.loads(result.stdout) if c["route"] == "csv"]
    assert csv["tasks"] >= 1 and csv["task_seconds"] > 0
    assert csv["node_seconds"] == pytest.approx(csv["task_seconds"] / 2, abs=0.01)
    assert csv["estimate"] == pytest.approx(csv["node_seconds"] / 1000, abs=0.0001)
    table = dropbatch(stack, "cost")
    assert table.returncode == 0 and "NODE-HOURS" in table.stdout

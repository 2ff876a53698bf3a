"""The operator's CLI against the running local stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from batch_core import intake
from batch_core.clock import utcnow
from devstack.stack import Stack
from tests.core.pipeline_helpers import drop, pipeline_with, unique

pytestmark = pytest.mark.stack


def dropbatch(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_core.cli", "--settings", str(stack.settings_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_lists_runs_as_a_table_and_as_json(stack: Stack) -> None:
    p = pipeline_with(stack)
    name = unique("notes.txt")
    run = intake.receive(p, drop(p, name, b"not data"), utcnow())
    assert run is not None

    table = dropbatch(stack, "status", "--state", "rejected")
    as_json = dropbatch(stack, "status", "--json")

    assert table.returncode == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if name in x)
    assert line.startswith("rejected") and "no route" in line
    docs = json.loads(as_json.stdout)
    assert any(d["id"] == run.key and d["state"] == "rejected" for d in docs)


def test_a_bad_settings_file_is_named_in_the_error(stack: Stack, tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batch_core.cli", "--settings", "/nonexistent.json", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "/nonexistent.json" in result.stderr and "make up" in result.stderr

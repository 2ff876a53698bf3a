"""End to end: once their runs have ended, a dropped CSV, a zip and the CSV extracted from it
are in the archive container, and `incoming` holds none of them (the default
DROPBATCH_TERMINAL_ORIGINALS=archive), on the whole local stack."""

from __future__ import annotations

import io
import time
import uuid
import zipfile

import pytest

from batch_core.originals import kept_name
from batch_core.pipeline import Pipeline
from batch_core.run import Run
from batch_core.settings import Settings
from devstack.stack import Stack
from tests.core.specs.steps import CSV

pytestmark = [pytest.mark.e2e, pytest.mark.stack]
TIMEOUT_SECONDS = 240


def settled(p: Pipeline, prefix: str, expected: int) -> list[Run]:
    """The runs of `prefix` once there are `expected`, all ended with their files moved."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    runs: list[Run] = []
    while time.monotonic() < deadline:
        runs = [r for r in p.ledger.recent(1000) if r.name.startswith(prefix)]
        if len(runs) >= expected and all(r.state.terminal and r.input_removed for r in runs):
            return runs
        time.sleep(1)
    states = sorted((r.name, r.state.value, r.input_removed) for r in runs)
    raise AssertionError(f"{len(runs)}/{expected} runs, not all ended and moved: {states}")


def test_ended_files_are_in_the_archive_and_incoming_holds_none(live_stack: Stack) -> None:
    # Given the whole stack running, with the Functions host watching `incoming`
    p = Pipeline.build(Settings.from_env(live_stack.values))
    incoming, archive = p.settings.container_incoming, p.settings.container_archive
    prefix = f"originals-{uuid.uuid4().hex[:6]}/"
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as z:
        z.writestr("inner.csv", CSV)

    # When an operator drops a CSV and a zip holding one
    p.blobs.upload(incoming, f"{prefix}a.csv", CSV)
    p.blobs.upload(incoming, f"{prefix}b.zip", packed.getvalue())

    # Then the three runs succeed, and each file is in the archive where its run says
    runs = settled(p, prefix, expected=3)
    assert sorted((r.route, r.state.value) for r in runs) == [
        ("csv", "succeeded"),
        ("csv", "succeeded"),
        ("zip", "succeeded"),
    ], [(r.name, r.reason) for r in runs]
    for run in runs:
        assert run.original == f"{archive}/{kept_name(run)}"
        assert [b.name for b in p.blobs.list(archive, kept_name(run))] == [kept_name(run)]
    # And incoming holds none of them
    assert [b.name for b in p.blobs.list(incoming, prefix)] == []

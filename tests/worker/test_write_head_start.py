"""What the worker does ahead of its writes while the file is checked (the container's
properties read, the collector paused) changes nothing the run reports, even when it fails."""

from __future__ import annotations

import pytest

from tests.worker import corpus
from tests.worker.node import WorkerStack, unique
from worker.contract import COSMOS_RECORDS_CONTAINER, WorkerExit

pytestmark = pytest.mark.stack


def test_a_missing_records_container_still_fails_the_write_naming_it(
    worker_stack: WorkerStack,
) -> None:
    run = worker_stack.process(
        "csv",
        unique("missing-container.csv"),
        corpus.csv_text(*corpus.GOOD_ROWS).encode(),
        **{COSMOS_RECORDS_CONTAINER: "no-such-container"},
    )
    assert run.code == WorkerExit.CRASH, run.stderr
    assert "write a batch of 3 rows (1-3): database or container not found" in run.stderr

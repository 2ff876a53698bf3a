"""Fixtures for the worker's tests.

Tests that need Blob storage and Cosmos DB (`@pytest.mark.stack`) get a session-wide Azurite
and Cosmos DB-compatible server, started with the devstack launchers; the worker runs against
them as a real subprocess, the way a Batch node runs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.node import WorkerStack, start_worker_stack

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long-running measurement (run with DROPBATCH_SLOW_TESTS=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DROPBATCH_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow measurement; set DROPBATCH_SLOW_TESTS=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def worker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStack]:
    try:
        stack = start_worker_stack(tmp_path_factory.mktemp("worker-stack"))
    except Exception as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Azurite or the Cosmos server could not start: {e}")
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"sample workload not found at {SAMPLES}")
    return SAMPLES

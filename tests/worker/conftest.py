"""Fixtures for the worker's tests.

Tests that need Blob storage and Cosmos DB (`@pytest.mark.stack`) use the session's shared
stack (tests/conftest.py); the worker runs against it as a real subprocess, the way a Batch
node runs it. The shared `samples` fixture gives the sample workload.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.worker.node import WorkerStack, attach_worker_stack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long-running measurement (run with DROPBATCH_SLOW_TESTS=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DROPBATCH_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow measurement; set DROPBATCH_SLOW_TESTS=1 to run it")
    here = Path(__file__).parent
    for item in items:
        # The hook sees the whole session; only this folder's slow tests are opt-in here.
        if "slow" in item.keywords and here in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def worker_stack(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStack]:
    """The shared stack's Azurite and Cosmos server, with the worker's own containers and a
    node shared dir holding the credentials file."""
    assert stack.azurite is not None and stack.cosmos is not None
    worker = attach_worker_stack(stack.azurite, stack.cosmos, tmp_path_factory.mktemp("worker"))
    yield worker
    worker.stop()

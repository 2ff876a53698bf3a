"""Shared fixtures: the local stack's real servers, started once per test session.

The servers are real processes on free ports with their state in a temporary folder: Azurite,
the Cosmos DB-compatible server and the Batch-compatible service. Tests talk to them with the
real Azure SDK clients. In CI (CI=true) a server that cannot start fails the run; elsewhere
the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"

# Settings that make the pipeline quick to drive in tests: no backoff, prompt stuck alerts are
# not wanted (a second tick must not alert), a single attempt unless a test says otherwise.
TEST_OVERRIDES = {
    "DROPBATCH_RETRY_BACKOFF_SECONDS": "0",
    "DROPBATCH_MAX_ATTEMPTS": "2",
    "DROPBATCH_RECONCILE_SCHEDULE": "*/2 * * * * *",
}


def _start(tmp: Path, with_functions: bool, overrides: dict[str, str]) -> Stack:
    try:
        return Stack(tmp).start(with_functions=with_functions, overrides=overrides)
    except Exception as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"local stack could not start: {e}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Azurite, Cosmos server and Batch service (no Functions host): tests drive batch_core
    synchronously."""
    s = _start(tmp_path_factory.mktemp("stack"), False, TEST_OVERRIDES)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"sample workload not found at {SAMPLES}")
    return SAMPLES

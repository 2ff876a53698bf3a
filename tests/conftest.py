"""Shared fixtures: the local stack's real servers, started once per test session.

The servers are real processes on free ports with their state in a temporary folder: Azurite,
the Cosmos DB-compatible server and the Batch-compatible service. Tests talk to them with the
real Azure SDK clients. In CI (CI=true) a server that cannot start fails the run; elsewhere
the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devstack.demodata import write_sample_shaped
from devstack.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"


# End-to-end tests wait for whole pipelines; every other test must finish within the
# per-test limit of pyproject.toml unless it says otherwise with its own timeout mark.
E2E_TIMEOUT_SECONDS = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Whatever a failed or timed-out test left running goes with the session: no server or
    task process outlives the test run. The whole tree is listed before anything is signalled,
    so the task processes of a server that dies first are still found."""
    left = psutil.Process().children(recursive=True)
    for proc in left:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.terminate()
    _, alive = psutil.wait_procs(left, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


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
def real_samples() -> Path:
    """The public sample workload itself, for tests that check its exact values."""
    if not SAMPLES.is_dir():
        pytest.skip(f"sample workload not found at {SAMPLES}")
    return SAMPLES


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample workload when it is beside the project, else data of the same shape that
    the project makes itself: NC1..NC3.zip of five CSVs each and seven per-state CSVs."""
    if SAMPLES.is_dir():
        return SAMPLES
    folder = tmp_path_factory.mktemp("samples")
    write_sample_shaped(folder)
    return folder

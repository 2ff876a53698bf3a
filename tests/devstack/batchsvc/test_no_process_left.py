"""A test that fails while its own Batch service runs leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.devstack.batchsvc.conftest import start_service

REPO = Path(__file__).resolve().parents[3]
MARKER = "DROPBATCH_TEST_FAIL_WITH_SERVICE"


@pytest.mark.skipif(MARKER not in os.environ, reason="run by the test below, in a child pytest")
def test_fails_with_a_service_running(tmp_path: Path) -> None:
    running = start_service(Path(os.environ[MARKER]))
    assert running.process.poll() is None
    raise AssertionError("failing on purpose with the service running")


def test_a_failed_test_leaves_no_service_running(tmp_path: Path) -> None:
    # Given a child test session whose only test starts a service and then fails
    state = tmp_path / "state"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{Path(__file__).relative_to(REPO)}::test_fails_with_a_service_running",
        ],
        cwd=REPO,
        env={**os.environ, MARKER: str(state)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then the test failed, and no process of that service's state dir is alive
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failing on purpose" in result.stdout
    left = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(state) in " ".join(p.info["cmdline"] or ())
    ]
    assert left == []

"""`dropbatch` works where the user stands: it reads ./local.settings.json when there and no
--settings is given, else the environment, and says which on stderr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.statuspage.conftest import ROOT

pytestmark = pytest.mark.stack


def dropbatch(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DROPBATCH_", "AzureWebJobs"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "batch_core.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_settings_file_in_the_current_folder_is_read_and_named(
    live_stack: Stack, tmp_path: Path
) -> None:
    shutil.copyfile(live_stack.settings_file, tmp_path / "local.settings.json")

    result = dropbatch(tmp_path, "status", "--json")

    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(result.stdout), list)
    assert result.stderr.splitlines() == ["dropbatch: settings from ./local.settings.json"]


def test_without_a_settings_file_the_environment_is_used_and_named(tmp_path: Path) -> None:
    result = dropbatch(tmp_path, "status")

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "dropbatch: settings from the environment"
    assert "AzureWebJobsStorage" in lines[1] and "missing" in lines[1]


def test_a_settings_file_given_wins_over_the_one_in_the_current_folder(
    live_stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "local.settings.json").write_text("{not json")

    result = dropbatch(tmp_path, "--settings", str(live_stack.settings_file), "status")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"dropbatch: settings from {live_stack.settings_file}"]

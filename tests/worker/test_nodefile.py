"""The start task's node file: the telemetry settings of its environment, merged into the
node's credentials file, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from worker.credentials import APPINSIGHTS_AUTHENTICATION_STRING, APPINSIGHTS_CONNECTION_STRING


def run(shared: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AZ_BATCH", "APPLICATION"))}
    if shared is not None:
        base["AZ_BATCH_NODE_SHARED_DIR"] = str(shared)
    return subprocess.run(
        [sys.executable, "-m", "worker.nodefile"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_telemetry_settings_are_merged_into_the_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "dropbatch" / "credentials.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"DROPBATCH_COSMOS_CA_CERT": "/etc/ca.pem"}))

    done = run(
        tmp_path,
        APPLICATIONINSIGHTS_CONNECTION_STRING="InstrumentationKey=x;IngestionEndpoint=https://e/",
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING="Authorization=AAD;ClientId=c",
        UNRELATED="not copied",
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(path.read_text()) == {
        "DROPBATCH_COSMOS_CA_CERT": "/etc/ca.pem",
        APPINSIGHTS_CONNECTION_STRING: "InstrumentationKey=x;IngestionEndpoint=https://e/",
        APPINSIGHTS_AUTHENTICATION_STRING: "Authorization=AAD;ClientId=c",
    }
    assert path.stat().st_mode & 0o777 == 0o600


def test_outside_a_node_it_says_where_to_run_it() -> None:
    done = run(None)
    assert done.returncode == 2 and "start task" in done.stderr
